//! The store's public contract, written as a suite any backend can run (openraft's `Suite`
//! pattern): each check takes a fresh store and asserts exact outcomes. Run here on memory and on
//! a real data directory.

use std::sync::Arc;

use skiff_core::clock::ManualClock;
use skiff_core::event::{Actor, Change, Revision};
use skiff_core::object::{ConfigMap, Container, Object, ObjectMeta, OwnerReference, Pod};
use skiff_store::codec::StoredValue;
use skiff_store::{
    Backing, Compare, ListOptions, Op, ReadError, Rejection, Store, Txn, WatchError, WriteError,
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
    let total = skiff_store::watch::WATCH_BUFFER_EVENTS as u64 + 128;
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
