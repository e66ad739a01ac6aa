//! The store's public contract, written as a suite any backend can run (openraft's `Suite`
//! pattern): each check takes a fresh store and asserts exact outcomes. Run here on memory and on
//! a real data directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::{Clock, ManualClock};
use skiff_core::event::{Actor, Change, Revision};
use skiff_core::object::{
    ConfigMap, Container, Object, ObjectMeta, OwnerReference, Pod, UnsupportedField,
};
use skiff_core::selector::{FieldSelector, Selector};
use skiff_store::codec::StoredValue;
use skiff_store::{
    Backing, CompactionPolicy, Compare, DB_FILE, ListOptions, ListPage, Op, OpenOptions, ReadError,
    Rejection, Store, StoreError, TAIL_SCAN_EVENTS, Txn, Watch, WatchError, WatchEvent,
    WatchOptions, WriteError,
};

fn admin() -> Actor {
    Actor::new("admin")
}

fn cm(name: &str, value: &str) -> Object {
    let mut cm = ConfigMap {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            ..ObjectMeta::named(name)
        },
        ..ConfigMap::default()
    };
    cm.data.insert("k".into(), value.into());
    cm.into()
}

fn pod(name: &str, node: Option<&str>, owner: Option<&str>) -> Object {
    let mut pod = Pod::new(name, vec![Container::new("c", "nginx")]);
    pod.metadata.namespace = Some("default".into());
    pod.spec.node_name = node.map(str::to_owned);
    if let Some(uid) = owner {
        pod.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
    }
    pod.into()
}

fn key(name: &str) -> String {
    format!("/registry/configmaps/default/{name}")
}

fn rejected(result: Result<impl std::fmt::Debug, WriteError>) -> Rejection {
    match result {
        Err(WriteError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn value_of(store: &Store, name: &str) -> String {
    let (_, entry) = store.get(&key(name)).unwrap();
    let StoredValue::Object(Object::ConfigMap(cm)) = entry.stored.value else {
        panic!("not a configmap")
    };
    cm.data["k"].clone()
}

async fn create_update_delete_with_preconditions(store: Store) {
    let created = store.create(&admin(), cm("a", "1")).await.unwrap();
    assert_eq!(created.metadata().resource_version.as_deref(), Some("1"));
    assert_eq!(
        rejected(store.create(&admin(), cm("a", "2")).await),
        Rejection::AlreadyExists { key: key("a") }
    );
    let updated = store
        .update(&admin(), cm("a", "2"), Some(Revision(1)))
        .await
        .unwrap();
    assert_eq!(updated.metadata().resource_version.as_deref(), Some("2"));
    assert_eq!(
        rejected(
            store
                .update(&admin(), cm("a", "3"), Some(Revision(1)))
                .await
        ),
        Rejection::Conflict {
            key: key("a"),
            expected: Revision(1),
            actual: Revision(2)
        }
    );
    assert_eq!(
        rejected(store.update(&admin(), cm("b", "1"), None).await),
        Rejection::NotFound { key: key("b") }
    );
    let (head, entry) = store.get(&key("a")).unwrap();
    assert_eq!(
        (
            head,
            entry.stored.create_revision,
            entry.stored.mod_revision,
            entry.stored.version
        ),
        (Revision(2), Revision(1), Revision(2), 2)
    );
    let removed = store
        .delete(&admin(), &key("a"), Some(Revision(2)))
        .await
        .unwrap();
    assert!(matches!(removed, StoredValue::Object(Object::ConfigMap(_))));
    assert!(matches!(
        store.get(&key("a")),
        Err(ReadError::NotFound { .. })
    ));
    assert_eq!(store.status().unwrap().revision, Revision(3));
}

async fn rejected_transactions_change_nothing(store: Store) {
    store.create(&admin(), cm("a", "1")).await.unwrap();
    let before = store.state_hash().unwrap();
    let txn = Txn {
        compare: vec![],
        success: vec![Op::Create(cm("b", "1")), Op::Create(cm("a", "again"))],
        failure: vec![],
    };
    assert_eq!(
        rejected(store.txn(&admin(), txn).await),
        Rejection::AlreadyExists { key: key("a") }
    );
    let dup = Txn {
        success: vec![
            Op::Create(cm("c", "1")),
            Op::Update {
                object: cm("c", "2"),
                expected: None,
            },
        ],
        ..Txn::default()
    };
    assert_eq!(
        rejected(store.txn(&admin(), dup).await),
        Rejection::Invalid(format!("duplicate key {} in one transaction", key("c")))
    );
    assert_eq!(store.state_hash().unwrap(), before);
    assert_eq!(store.status().unwrap().revision, Revision(1));
}

async fn transactions_choose_a_branch_and_take_dense_revisions(store: Store) {
    store.create(&admin(), cm("a", "1")).await.unwrap();
    let txn = Txn {
        compare: vec![
            Compare::ModRevision(key("a"), Revision(1)),
            Compare::Absent(key("b")),
        ],
        success: vec![
            Op::Update {
                object: cm("a", "2"),
                expected: None,
            },
            Op::Create(cm("b", "1")),
            Op::Create(cm("c", "1")),
        ],
        failure: vec![Op::Create(cm("lost", "1"))],
    };
    let response = store.txn(&admin(), txn.clone()).await.unwrap();
    assert!(response.succeeded);
    assert_eq!(response.revision, Revision(4));
    let revisions: Vec<u64> = response.applied.iter().map(|a| a.revision.0).collect();
    assert_eq!(revisions, [2, 3, 4]);
    // The same transaction again: the compares fail, the failure branch runs.
    let response = store.txn(&admin(), txn).await.unwrap();
    assert!(!response.succeeded);
    assert_eq!(response.applied[0].key, key("lost"));
    let events = store.events(Revision(1), Revision(5)).unwrap();
    let revisions: Vec<u64> = events.iter().map(|e| e.revision.0).collect();
    assert_eq!(revisions, [1, 2, 3, 4, 5]);
    assert!(events.iter().all(|e| e.actor == admin()));
}

async fn lists_page_consistently_at_one_revision(store: Store) {
    for i in 0..5 {
        store
            .create(&admin(), cm(&format!("cm-{i}"), "x"))
            .await
            .unwrap();
    }
    let prefix = "/registry/configmaps/default/";
    let first = store
        .list(
            prefix,
            &ListOptions {
                limit: 2,
                ..ListOptions::default()
            },
        )
        .unwrap();
    let names: Vec<&str> = first.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(names, [key("cm-0"), key("cm-1")]);
    assert_eq!(first.revision, Revision(5));
    // Writes between pages must not show up in the next page read at the same revision.
    store.create(&admin(), cm("cm-2a", "x")).await.unwrap();
    store.delete(&admin(), &key("cm-3"), None).await.unwrap();
    let options = ListOptions {
        revision: Some(first.revision),
        continue_after: first.continue_after.clone(),
        ..ListOptions::default()
    };
    let rest = store.list(prefix, &options).unwrap();
    let names: Vec<&str> = rest.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(names, [key("cm-2"), key("cm-3"), key("cm-4")]);
    assert_eq!(rest.continue_after, None);
    let now: Vec<String> = store
        .list("/registry/configmaps/", &ListOptions::default())
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        now,
        [
            key("cm-0"),
            key("cm-1"),
            key("cm-2"),
            key("cm-2a"),
            key("cm-4")
        ]
    );
}

async fn past_revisions_read_until_compacted(store: Store) {
    store.create(&admin(), cm("a", "1")).await.unwrap();
    store.update(&admin(), cm("a", "2"), None).await.unwrap();
    store.create(&admin(), cm("b", "1")).await.unwrap();
    store.delete(&admin(), &key("b"), None).await.unwrap();
    store.update(&admin(), cm("a", "3"), None).await.unwrap();
    let at = |rev: u64| match store.get_at(&key("a"), Revision(rev)).unwrap().stored.value {
        StoredValue::Object(Object::ConfigMap(cm)) => cm.data["k"].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (at(1), at(2), at(4), at(5)),
        ("1".into(), "2".into(), "2".into(), "3".into())
    );
    assert!(store.get_at(&key("b"), Revision(3)).is_ok());
    assert!(matches!(
        store.get_at(&key("b"), Revision(4)),
        Err(ReadError::NotFound { .. })
    ));
    let past = ListOptions {
        revision: Some(Revision(3)),
        ..ListOptions::default()
    };
    assert_eq!(
        store
            .list("/registry/configmaps/", &past)
            .unwrap()
            .entries
            .len(),
        2
    );
    store.compact(&admin(), Revision(4)).await.unwrap();
    assert_eq!(at(4), "2");
    assert!(matches!(
        store.get_at(&key("a"), Revision(3)),
        Err(ReadError::Compacted {
            requested: Revision(3),
            compacted_revision: Revision(4)
        })
    ));
    assert!(matches!(
        store.get_at(&key("a"), Revision(9)),
        Err(ReadError::FutureRevision {
            requested: Revision(9),
            head: Revision(6)
        })
    ));
    assert_eq!(
        rejected(store.compact(&admin(), Revision(2)).await),
        Rejection::BadCompaction {
            requested: Revision(2),
            reason: "already compacted to 4".into()
        }
    );
    store.verify().unwrap();
    assert_eq!(value_of(&store, "a"), "3");
}

async fn indexes_follow_updates_and_deletes(store: Store) {
    store
        .create(&admin(), pod("p1", Some("n1"), Some("rs-uid")))
        .await
        .unwrap();
    store
        .create(&admin(), pod("p2", None, Some("rs-uid")))
        .await
        .unwrap();
    assert_eq!(
        store.pods_on_node("n1").unwrap(),
        ["/registry/pods/default/p1"]
    );
    store
        .update(&admin(), pod("p2", Some("n1"), None), None)
        .await
        .unwrap();
    assert_eq!(
        store.pods_on_node("n1").unwrap(),
        ["/registry/pods/default/p1", "/registry/pods/default/p2"]
    );
    assert_eq!(
        store.owned_by("rs-uid").unwrap(),
        ["/registry/pods/default/p1"]
    );
    store
        .delete(&admin(), "/registry/pods/default/p1", None)
        .await
        .unwrap();
    assert_eq!(
        store.pods_on_node("n1").unwrap(),
        ["/registry/pods/default/p2"]
    );
    assert!(store.owned_by("rs-uid").unwrap().is_empty());
    assert_eq!(
        store.in_namespace("default").unwrap(),
        ["/registry/pods/default/p2"]
    );
    store.verify().unwrap();
}

async fn raw_values_stay_outside_the_registry(store: Store) {
    let put = |key: &str| Op::PutRaw {
        key: key.into(),
        value: b"v".to_vec(),
    };
    assert!(matches!(
        rejected(store.op(&admin(), put("/registry/pods/default/x")).await),
        Rejection::Invalid(_)
    ));
    store.op(&admin(), put("/foo")).await.unwrap();
    store.op(&admin(), put("/foo")).await.unwrap();
    let (_, entry) = store.get("/foo").unwrap();
    assert_eq!(
        (entry.stored.version, entry.stored.value),
        (2, StoredValue::Raw(b"v".to_vec()))
    );
    store.delete(&admin(), "/foo", None).await.unwrap();
    let kinds: Vec<&'static str> = store
        .events(Revision(1), Revision(3))
        .unwrap()
        .iter()
        .map(|e| match e.change {
            Change::PutRaw { .. } => "put",
            Change::DeleteRaw { .. } => "del",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["put", "put", "del"]);
}

async fn watches_are_ordered_gap_free_and_resumable(store: Store) {
    store.create(&admin(), cm("a", "1")).await.unwrap();
    store.create(&admin(), pod("p", None, None)).await.unwrap();
    let mut all = store.watch("", Revision(0)).unwrap();
    let mut cms = store.watch("/registry/configmaps/", Revision(1)).unwrap();
    store.update(&admin(), cm("a", "2"), None).await.unwrap();
    let mut revs = Vec::new();
    for _ in 0..3 {
        revs.push(all.next().await.unwrap().revision.0);
    }
    assert_eq!(revs, [1, 2, 3]);
    assert_eq!(cms.next().await.unwrap().revision, Revision(3));
    assert_eq!(cms.bookmark(), Revision(3));
    store.compact(&admin(), Revision(3)).await.unwrap();
    assert!(matches!(
        store.watch("", Revision(1)),
        Err(ReadError::Compacted {
            requested: Revision(1),
            compacted_revision: Revision(3)
        })
    ));
    // The compaction itself is an event every unfiltered watcher sees.
    assert!(matches!(
        all.next().await.unwrap().change,
        Change::Compact { below: Revision(3) }
    ));
}

async fn slow_watchers_are_cut_off_and_resume_without_gaps(store: Store) {
    let mut slow = store.watch("", Revision(0)).unwrap();
    // The writer acknowledges a batch before it publishes it, so when the last write returns
    // its 128 events may not be in the ring yet: only what was published before must overflow
    // it. With just one batch over the ring, a reader that started before that last publish
    // never lagged and this loop waited forever for the cut-off (seen on a loaded machine).
    let total = skiff_store::watch::WATCH_BUFFER_EVENTS as u64 + 2 * 128;
    for chunk in 0..total / 128 {
        let txn = Txn {
            success: (0..128)
                .map(|i| Op::Create(cm(&format!("c{chunk}-{i}"), "x")))
                .collect(),
            ..Txn::default()
        };
        store.txn(&admin(), txn).await.unwrap();
    }
    let mut last = 0;
    let resume_from = loop {
        match slow.next().await {
            Ok(event) => {
                assert_eq!(event.revision.0, last + 1, "no gaps before the cut-off");
                last = event.revision.0;
            }
            Err(WatchError::Overflowed { resume_from }) => break resume_from,
            Err(other) => panic!("unexpected {other}"),
        }
    };
    assert_eq!(resume_from.0, last);
    let mut resumed = store.watch("", resume_from).unwrap();
    for expected in last + 1..=total {
        assert_eq!(resumed.next().await.unwrap().revision.0, expected);
    }
}

async fn concurrent_conditional_updates_have_exactly_one_winner(store: Store) {
    store.create(&admin(), cm("hot", "0")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::new(format!("client-{i}"));
            store
                .update(&actor, cm("hot", &i.to_string()), Some(Revision(1)))
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(WriteError::Rejected(Rejection::Conflict {
                expected: Revision(1),
                actual: Revision(2),
                ..
            })) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.status().unwrap().revision, Revision(2));
}

// ---------------------------------------------------------------------------------------------
// Selectors, bookmarks, compaction policy.
// ---------------------------------------------------------------------------------------------

const PODS: &str = "/registry/pods/";

fn app_pod(name: &str, node: Option<&str>, app: &str) -> Object {
    let mut pod = pod(name, node, None);
    pod.metadata_mut().labels.insert("app".into(), app.into());
    pod
}

fn pod_key(name: &str) -> String {
    format!("/registry/pods/default/{name}")
}

fn names(page: &ListPage) -> Vec<&str> {
    page.entries
        .iter()
        .map(|e| e.key.rsplit('/').next().unwrap())
        .collect()
}

fn labels(selector: &str) -> Selector {
    Selector::parse(selector).unwrap()
}

fn fields(selector: &str) -> FieldSelector {
    FieldSelector::parse(selector).unwrap()
}

fn unsupported<T>(result: Result<T, ReadError>) -> String {
    match result {
        Err(ReadError::InvalidSelector(UnsupportedField { field })) => field,
        Err(other) => panic!("expected an unsupported field, got {other}"),
        Ok(_) => panic!("expected an unsupported field, the selector was accepted"),
    }
}

/// What a watch event is, as (kind, revision), for exact comparisons.
fn seen(event: &WatchEvent) -> (&'static str, u64) {
    let kind = match event {
        WatchEvent::Added(_) => "added",
        WatchEvent::Modified(_) => "modified",
        WatchEvent::Deleted(_) => "deleted",
        WatchEvent::Compaction(_) => "compaction",
        WatchEvent::Bookmark(_) => "bookmark",
    };
    (kind, event.revision().0)
}

async fn take(watch: &mut Watch, n: usize) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(seen(&watch.next_event().await.unwrap()));
    }
    out
}

/// Waits until `probe` (an unfiltered watch started at the head, so fed live) has seen
/// `revision`: every watcher's ring then holds it too.
async fn published(probe: &mut Watch, revision: u64) {
    while probe.next().await.unwrap().revision.0 < revision {}
}

/// Pods a..e (revisions 1..=5: nodes n1, n2, none, n1, n1; apps web, web, db, db, web), a
/// configmap (6) and a raw value (7).
async fn seed_pods(store: &Store) {
    for object in [
        app_pod("a", Some("n1"), "web"),
        app_pod("b", Some("n2"), "web"),
        app_pod("c", None, "db"),
        app_pod("d", Some("n1"), "db"),
        app_pod("e", Some("n1"), "web"),
        cm("x", "1"),
    ] {
        store.create(&admin(), object).await.unwrap();
    }
    let raw = Op::PutRaw {
        key: "/foo".into(),
        value: b"v".to_vec(),
    };
    store.op(&admin(), raw).await.unwrap();
}

async fn lists_filter_by_label_and_field_selectors(store: Store) {
    Box::pin(seed_pods(&store)).await;
    let list = |prefix: &str, options: ListOptions| store.list(prefix, &options).unwrap();
    let web = ListOptions {
        label_selector: Some(labels("app=web")),
        ..ListOptions::default()
    };
    assert_eq!(names(&list(PODS, web.clone())), ["a", "b", "e"]);
    // Raw values never match a selector that filters; one that selects everything keeps them.
    assert_eq!(names(&list("/", web)), ["a", "b", "e"]);
    let everything = ListOptions {
        label_selector: Some(Selector::everything()),
        ..ListOptions::default()
    };
    assert_eq!(list("/", everything).entries.len(), 7);
    // spec.nodeName=n1 reads the pods_by_node index; limits count matches.
    let on_n1 = ListOptions {
        field_selector: Some(fields("spec.nodeName=n1")),
        limit: 2,
        ..ListOptions::default()
    };
    let first = list(PODS, on_n1.clone());
    assert_eq!(
        (names(&first), first.continue_after.clone()),
        (vec!["a", "d"], Some(pod_key("d")))
    );
    let rest = list(
        PODS,
        ListOptions {
            revision: Some(first.revision),
            continue_after: first.continue_after.clone(),
            ..on_n1.clone()
        },
    );
    assert_eq!(
        (names(&rest), rest.continue_after.clone()),
        (vec!["e"], None)
    );
    // No empty last page: c, d, e follow b but none matches.
    let on_n2 = ListOptions {
        field_selector: Some(fields("spec.nodeName=n2")),
        limit: 1,
        ..ListOptions::default()
    };
    let page = list(PODS, on_n2);
    assert_eq!(
        (names(&page), page.continue_after.clone()),
        (vec!["b"], None)
    );
    let web_on_n1 = ListOptions {
        label_selector: Some(labels("app=web")),
        field_selector: Some(fields("spec.nodeName==n1")),
        limit: 1,
        ..ListOptions::default()
    };
    let page = list(PODS, web_on_n1.clone());
    assert_eq!(
        (names(&page), page.continue_after.clone()),
        (vec!["a"], Some(pod_key("a")))
    );
    let page = list(
        PODS,
        ListOptions {
            continue_after: page.continue_after,
            ..web_on_n1
        },
    );
    assert_eq!(
        (names(&page), page.continue_after.clone()),
        (vec!["e"], None)
    );
    // Unscheduled pods (not in the index) and negative terms scan.
    let unscheduled = ListOptions {
        field_selector: Some(fields("spec.nodeName=")),
        ..ListOptions::default()
    };
    assert_eq!(names(&list(PODS, unscheduled)), ["c"]);
    let not_n1 = ListOptions {
        field_selector: Some(fields("spec.nodeName!=n1")),
        ..ListOptions::default()
    };
    assert_eq!(names(&list(PODS, not_n1)), ["b", "c"]);
}

async fn field_selectors_read_history_and_name_only_supported_fields(store: Store) {
    Box::pin(seed_pods(&store)).await;
    let list = |prefix: &str, options: ListOptions| store.list(prefix, &options).unwrap();
    // Past revisions read history with the same selectors.
    store
        .update(&admin(), app_pod("d", Some("n2"), "db"), None)
        .await
        .unwrap();
    let on_n1 = ListOptions {
        field_selector: Some(fields("spec.nodeName=n1")),
        ..ListOptions::default()
    };
    assert_eq!(names(&list(PODS, on_n1.clone())), ["a", "e"]);
    let before = ListOptions {
        revision: Some(Revision(7)),
        ..on_n1
    };
    assert_eq!(names(&list(PODS, before)), ["a", "d", "e"]);
    // Fields every kind has work across kinds; others only where the prefix names the kind.
    let named_b = ListOptions {
        field_selector: Some(fields("metadata.name=b")),
        ..ListOptions::default()
    };
    assert_eq!(names(&list("/registry/", named_b)), ["b"]);
    let bad = |prefix: &str, selector: &str| {
        let options = ListOptions {
            field_selector: Some(fields(selector)),
            ..ListOptions::default()
        };
        store.list(prefix, &options)
    };
    assert_eq!(unsupported(bad(PODS, "spec.foo=x")), "spec.foo");
    assert_eq!(
        bad(PODS, "spec.foo=x").unwrap_err().to_string(),
        "field label not supported: spec.foo"
    );
    assert_eq!(
        unsupported(bad("/registry/configmaps/", "spec.nodeName=n1")),
        "spec.nodeName"
    );
    assert_eq!(
        unsupported(bad("/registry/", "spec.nodeName=n1")),
        "spec.nodeName"
    );
}

fn web_pods(from: u64) -> WatchOptions {
    WatchOptions {
        prefix: PODS.into(),
        from: Revision(from),
        label_selector: Some(labels("app=web")),
        ..WatchOptions::default()
    }
}

/// Revisions 2..=9 of the watch checks, after pod `a` (n1, web) at revision 1.
async fn write_pod_history(store: &Store) {
    let writes = [
        Op::Create(app_pod("b", None, "db")), // 2: not web
        Op::Update {
            object: app_pod("a", Some("n2"), "web"), // 3: web → web
            expected: None,
        },
        Op::Update {
            object: app_pod("b", Some("n1"), "web"), // 4: db → web
            expected: None,
        },
        Op::Update {
            object: app_pod("a", Some("n2"), "db"), // 5: web → db
            expected: None,
        },
        Op::Update {
            object: app_pod("a", Some("n3"), "db"), // 6: db → db
            expected: None,
        },
        Op::Delete {
            key: pod_key("b"), // 7: web, deleted
            expected: None,
        },
        Op::Delete {
            key: pod_key("a"), // 8: db, deleted
            expected: None,
        },
        Op::Create(app_pod("c", Some("n1"), "web")), // 9: web
    ];
    for op in writes {
        store.op(&admin(), op).await.unwrap();
    }
}

async fn selector_watches_turn_updates_into_added_and_deleted(store: Store) {
    store
        .create(&admin(), app_pod("a", Some("n1"), "web"))
        .await
        .unwrap();
    let mut live = store.watch_with(web_pods(1)).unwrap();
    Box::pin(write_pod_history(&store)).await;
    let transitions = [
        ("modified", 3),
        ("added", 4),
        ("deleted", 5),
        ("deleted", 7),
        ("added", 9),
    ];
    assert_eq!(take(&mut live, 5).await, transitions);
    // From the log (catch-up) the same, with the matching set read at the start revision.
    let mut from_start = store.watch_with(web_pods(0)).unwrap();
    let mut expected = vec![("added", 1)];
    expected.extend(transitions);
    assert_eq!(take(&mut from_start, 6).await, expected);
    let mut from_four = store.watch_with(web_pods(4)).unwrap();
    assert_eq!(
        take(&mut from_four, 3).await,
        [("deleted", 5), ("deleted", 7), ("added", 9)]
    );
    let bad = WatchOptions {
        prefix: PODS.into(),
        field_selector: Some(fields("spec.foo=x")),
        ..WatchOptions::default()
    };
    assert_eq!(unsupported(store.watch_with(bad)), "spec.foo");
}

async fn field_and_plain_watches_report_what_changed_for_them(store: Store) {
    store
        .create(&admin(), app_pod("a", Some("n1"), "web"))
        .await
        .unwrap();
    Box::pin(write_pod_history(&store)).await;
    let on_n1 = WatchOptions {
        prefix: PODS.into(),
        field_selector: Some(fields("spec.nodeName=n1")),
        ..WatchOptions::default()
    };
    let mut on_n1 = store.watch_with(on_n1).unwrap();
    assert_eq!(
        take(&mut on_n1, 5).await,
        [
            ("added", 1),
            ("deleted", 3),
            ("added", 4),
            ("deleted", 7),
            ("added", 9)
        ]
    );
    let mut all_pods = store.watch(PODS, Revision(0)).unwrap();
    assert_eq!(
        take(&mut all_pods, 9).await,
        [
            ("added", 1),
            ("added", 2),
            ("modified", 3),
            ("modified", 4),
            ("modified", 5),
            ("modified", 6),
            ("deleted", 7),
            ("deleted", 8),
            ("added", 9)
        ]
    );
    // `next` keeps returning the log's events, whatever they mean to the watcher.
    let mut plain = store.watch_with(web_pods(0)).unwrap();
    let mut revisions = Vec::new();
    for _ in 0..6 {
        revisions.push(plain.next().await.unwrap().revision.0);
    }
    assert_eq!(revisions, [1, 3, 4, 5, 7, 9]);
}

async fn bookmarks_report_progress_past_filtered_events(store: Store, clock: Arc<ManualClock>) {
    let mut probe = store.watch("", Revision(0)).unwrap();
    let options = WatchOptions {
        prefix: PODS.into(),
        label_selector: Some(labels("app=web")),
        bookmarks: true,
        bookmark_interval: Duration::from_secs(10),
        ..WatchOptions::default()
    };
    let mut watch = store.watch_with(options.clone()).unwrap();
    let mut plain = store
        .watch_with(WatchOptions {
            bookmarks: false,
            ..options
        })
        .unwrap();
    let actor = admin();
    let create = |name: &str, app: &str| store.create(&actor, app_pod(name, None, app));
    for name in ["x1", "x2", "x3"] {
        create(name, "db").await.unwrap();
    }
    published(&mut probe, 3).await;
    clock.advance(Duration::from_secs(10));
    assert_eq!(take(&mut watch, 1).await, [("bookmark", 3)]);
    // Within the interval: the filtered 4 gets no bookmark before the matching 5.
    create("x4", "db").await.unwrap();
    create("w5", "web").await.unwrap();
    published(&mut probe, 5).await;
    assert_eq!(take(&mut watch, 1).await, [("added", 5)]);
    create("x6", "db").await.unwrap();
    create("x7", "db").await.unwrap();
    published(&mut probe, 7).await;
    clock.advance(Duration::from_secs(10));
    assert_eq!(take(&mut watch, 1).await, [("bookmark", 7)]);
    // No progress past the last report: no bookmark, however long it has been.
    create("w8", "web").await.unwrap();
    published(&mut probe, 8).await;
    clock.advance(Duration::from_secs(60));
    assert_eq!(take(&mut watch, 1).await, [("added", 8)]);
    // A watch that did not ask sees only the changes.
    assert_eq!(take(&mut plain, 2).await, [("added", 5), ("added", 8)]);
}

async fn compaction_follows_the_retention_window(store: Store, clock: Arc<ManualClock>) {
    let retention = Duration::from_secs(5 * 60);
    let minutes = |m: u64| Duration::from_secs(m * 60);
    for name in ["c1", "c2", "c3"] {
        store.create(&admin(), cm(name, "x")).await.unwrap();
    }
    clock.advance(minutes(2));
    for name in ["c4", "c5"] {
        store.create(&admin(), cm(name, "x")).await.unwrap();
    }
    clock.advance(minutes(4));
    // Now T+6m; the window starts at T+1m: revisions 1..=3 (at T) are out, 3 the newest.
    assert_eq!(
        store
            .compaction_target(clock.now_micro_time(), retention)
            .unwrap(),
        Some(Revision(3))
    );
    assert_eq!(
        store.compact_expired(retention).await.unwrap(),
        Some(Revision(3))
    );
    let record = &store.events(Revision(6), Revision(6)).unwrap()[0];
    assert_eq!(
        (&record.actor, &record.change),
        (
            &Actor::new("system:compactor"),
            &Change::Compact { below: Revision(3) }
        )
    );
    assert!(matches!(
        store.get_at(&key("c1"), Revision(2)),
        Err(ReadError::Compacted {
            requested: Revision(2),
            compacted_revision: Revision(3)
        })
    ));
    assert_eq!(store.compact_expired(retention).await.unwrap(), None);
    clock.advance(minutes(5));
    // T+11m: 4 and 5 (T+2m) are out, the record 6 (T+6m) is not.
    assert_eq!(
        store.compact_expired(retention).await.unwrap(),
        Some(Revision(5))
    );
    clock.advance(minutes(6));
    // T+17m: records 6 (T+6m) and 7 (T+11m) are out.
    assert_eq!(
        store.compact_expired(retention).await.unwrap(),
        Some(Revision(7))
    );
    clock.advance(minutes(6));
    // T+23m: only record 8 is out; compacting past it would only drop the last record.
    assert_eq!(store.compact_expired(retention).await.unwrap(), None);
    assert_eq!(store.status().unwrap().compacted, Revision(7));
    assert_eq!(store.status().unwrap().revision, Revision(8));
    store.verify().unwrap();
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_700_000_000))
}

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let dir = tempfile::tempdir().unwrap();
                for backing in [Backing::Memory, Backing::Dir(dir.path().to_owned())] {
                    let store = Store::open(backing, super::clock()).unwrap();
                    super::$check(store).await;
                }
            }
        )*
    };
}

macro_rules! suite_with_clock {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let dir = tempfile::tempdir().unwrap();
                for backing in [Backing::Memory, Backing::Dir(dir.path().to_owned())] {
                    let clock = super::clock();
                    let store = Store::open(backing, clock.clone()).unwrap();
                    super::$check(store, clock).await;
                }
            }
        )*
    };
}

mod on_memory_and_disk {
    use skiff_store::{Backing, Store};

    suite!(
        create_update_delete_with_preconditions,
        rejected_transactions_change_nothing,
        transactions_choose_a_branch_and_take_dense_revisions,
        lists_page_consistently_at_one_revision,
        past_revisions_read_until_compacted,
        indexes_follow_updates_and_deletes,
        raw_values_stay_outside_the_registry,
        watches_are_ordered_gap_free_and_resumable,
        slow_watchers_are_cut_off_and_resume_without_gaps,
        concurrent_conditional_updates_have_exactly_one_winner,
        lists_filter_by_label_and_field_selectors,
        field_selectors_read_history_and_name_only_supported_fields,
        selector_watches_turn_updates_into_added_and_deleted,
        field_and_plain_watches_report_what_changed_for_them,
    );

    suite_with_clock!(
        bookmarks_report_progress_past_filtered_events,
        compaction_follows_the_retention_window,
    );
}

#[tokio::test]
async fn reopening_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        let store = Store::open(Backing::Dir(dir.path().to_owned()), clock()).unwrap();
        for i in 0..20 {
            store
                .create(&admin(), cm(&format!("c{i}"), "x"))
                .await
                .unwrap();
        }
        store.compact(&admin(), Revision(10)).await.unwrap();
        store.update(&admin(), cm("c3", "y"), None).await.unwrap();
        let hash = store.state_hash().unwrap();
        store.shutdown().await;
        hash
    };
    let store = Store::open(Backing::Dir(dir.path().to_owned()), clock()).unwrap();
    assert_eq!(store.state_hash().unwrap(), hash);
    assert_eq!(store.status().unwrap().revision, Revision(22));
    assert_eq!(value_of(&store, "c3"), "y");
    store.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compactor_task_compacts_expired_history_as_system_compactor() {
    let clock = clock();
    let store = Store::open(Backing::Memory, clock.clone()).unwrap();
    store.create(&admin(), cm("c1", "x")).await.unwrap();
    store.create(&admin(), cm("c2", "x")).await.unwrap();
    clock.advance(Duration::from_secs(10 * 60));
    store.create(&admin(), cm("c3", "x")).await.unwrap();
    let mut probe = store.watch("", Revision(3)).unwrap();
    // tokio's test-util (paused time) is not enabled in the workspace: a short real interval
    // drives the task, the manual clock decides what is expired.
    let compactor = store.start_compactor(CompactionPolicy {
        interval: Duration::from_millis(5),
        retention: Duration::from_secs(5 * 60),
    });
    let event = tokio::time::timeout(Duration::from_secs(60), probe.next())
        .await
        .expect("the compactor ran within a minute")
        .unwrap();
    assert_eq!(
        (event.revision, &event.actor, &event.change),
        (
            Revision(4),
            &Actor::new("system:compactor"),
            &Change::Compact { below: Revision(2) }
        )
    );
    compactor.stop().await;
    assert_eq!(store.status().unwrap().compacted, Revision(2));
    store.verify().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Corrupt records in a real database file.
// ---------------------------------------------------------------------------------------------

const EVENTS: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("events");

/// Opens the closed store's file with redb directly and overwrites (or, with `None`, removes)
/// the `events` record of `revision`.
fn tamper(dir: &Path, revision: u64, bytes: Option<&[u8]>) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut events = txn.open_table(EVENTS).unwrap();
        match bytes {
            Some(bytes) => drop(events.insert(revision, bytes).unwrap()),
            None => drop(events.remove(revision).unwrap()),
        }
    }
    txn.commit().unwrap();
}

/// A closed store in `dir` with configmaps `c1..=cN` at revisions 1..=N.
async fn closed_store(dir: &Path, n: u64) {
    let store = Store::open(Backing::Dir(dir.to_owned()), clock()).unwrap();
    let names: Vec<String> = (1..=n).map(|i| format!("c{i}")).collect();
    for chunk in names.chunks(128) {
        let txn = Txn {
            success: chunk.iter().map(|n| Op::Create(cm(n, "x"))).collect(),
            ..Txn::default()
        };
        store.txn(&admin(), txn).await.unwrap();
    }
    store.shutdown().await;
}

fn corrupt(result: Result<Store, StoreError>) -> (u64, String) {
    match result {
        Err(
            e @ StoreError::Corrupt {
                what: "event",
                revision,
                ..
            },
        ) => (revision, e.to_string()),
        Err(other) => panic!("expected a corrupt event, got {other}"),
        Ok(_) => panic!("expected a corrupt event, the store opened"),
    }
}

fn reopen(dir: &Path, truncate_corrupt_tail: bool) -> Result<Store, StoreError> {
    Store::open_with(
        Backing::Dir(dir.to_owned()),
        clock(),
        OpenOptions {
            truncate_corrupt_tail,
            ..OpenOptions::default()
        },
    )
}

#[tokio::test]
async fn corrupt_tail_record_is_named_on_open_and_can_be_truncated() {
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path(), 10).await;
    tamper(dir.path(), 8, Some(b"garbage"));
    assert_eq!(
        corrupt(reopen(dir.path(), false)),
        (
            8,
            "corrupt record event at revision 8: unknown record format 103 (expected 1)".into()
        )
    );
    let store = reopen(dir.path(), true).unwrap();
    let status = store.status().unwrap();
    assert_eq!(
        (status.revision, status.events, status.keys),
        (Revision(7), 7, 7)
    );
    let listed: Vec<String> = store
        .list("/registry/configmaps/", &ListOptions::default())
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        listed,
        (1..=7).map(|i| key(&format!("c{i}"))).collect::<Vec<_>>()
    );
    store.verify().unwrap();
    store.verify_log().unwrap();
    let created = store.create(&admin(), cm("c8", "y")).await.unwrap();
    assert_eq!(created.metadata().resource_version.as_deref(), Some("8"));
    let hash = store.state_hash().unwrap();
    store.shutdown().await;
    drop(store);
    let store = Store::open(Backing::Dir(dir.path().to_owned()), clock()).unwrap();
    assert_eq!(store.state_hash().unwrap(), hash);
    store.verify().unwrap();
}

#[tokio::test]
async fn missing_tail_record_is_named_and_truncation_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path(), 10).await;
    tamper(dir.path(), 10, None);
    assert_eq!(
        corrupt(reopen(dir.path(), false)),
        (
            10,
            "corrupt record event at revision 10: missing from the log".into()
        )
    );
    let store = reopen(dir.path(), true).unwrap();
    assert_eq!(store.status().unwrap().revision, Revision(9));
    store.verify().unwrap();
    store.verify_log().unwrap();
}

#[tokio::test]
async fn truncation_never_cuts_into_compacted_history() {
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path(), 10).await;
    {
        let store = Store::open(Backing::Dir(dir.path().to_owned()), clock()).unwrap();
        store.compact(&admin(), Revision(8)).await.unwrap();
        store.shutdown().await;
    }
    tamper(dir.path(), 8, Some(b"garbage"));
    assert_eq!(
        corrupt(reopen(dir.path(), true)),
        (
            8,
            "corrupt record event at revision 8: unknown record format 103 (expected 1); \
             cannot truncate at or below the compacted revision 8"
                .into()
        )
    );
}

#[tokio::test]
async fn damage_beyond_the_tail_window_is_found_by_verify_log() {
    let dir = tempfile::tempdir().unwrap();
    let events = TAIL_SCAN_EVENTS + 100;
    closed_store(dir.path(), events).await;
    tamper(dir.path(), 5, Some(b"garbage"));
    // Open reads only the tail: revision 5 is outside it.
    let store = Store::open(Backing::Dir(dir.path().to_owned()), clock()).unwrap();
    assert_eq!(store.status().unwrap().revision, Revision(events));
    match store.verify_log() {
        Err(e @ StoreError::Corrupt { revision: 5, .. }) => assert_eq!(
            e.to_string(),
            "corrupt record event at revision 5: unknown record format 103 (expected 1)"
        ),
        other => panic!("expected revision 5 to be corrupt, got {other:?}"),
    }
}
