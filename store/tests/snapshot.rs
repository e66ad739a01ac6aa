//! Snapshots (save, status, restore) and defrag: a restored store equals the original, a
//! damaged snapshot is refused whole, and defrag returns space without changing the state.

use std::path::Path;
use std::sync::Arc;

use skiff_core::clock::ManualClock;
use skiff_core::event::{Actor, Revision};
use skiff_core::object::{ConfigMap, Container, Object, ObjectMeta, OwnerReference, Pod};
use skiff_store::snapshot::{SnapshotError, TRAILER_BYTES};
use skiff_store::{Backing, DB_FILE, ListOptions, Op, Store, Txn};

fn admin() -> Actor {
    Actor::new("admin")
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_700_000_000))
}

fn open(dir: &Path) -> Store {
    Store::open(Backing::Dir(dir.to_owned()), clock()).unwrap()
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

fn pod(name: &str, node: &str, owner: &str) -> Object {
    let mut pod = Pod::new(name, vec![Container::new("c", "nginx")]);
    pod.metadata.namespace = Some("default".into());
    pod.spec.node_name = Some(node.into());
    pod.metadata.owner_references.push(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "rs".into(),
        uid: owner.into(),
        controller: Some(true),
        block_owner_deletion: None,
    });
    pod.into()
}

fn put_raw(key: &str, value: Vec<u8>) -> Op {
    Op::PutRaw {
        key: key.into(),
        value,
    }
}

/// A store with objects, indexes, raw values, updates, deletes and a compaction: every table
/// holds rows.
async fn populated(dir: &Path) -> Store {
    let store = open(dir);
    for i in 0..30 {
        store
            .create(&admin(), cm(&format!("c{i:02}"), "x"))
            .await
            .unwrap();
    }
    for i in 0..5 {
        store
            .create(&admin(), pod(&format!("p{i}"), "node-1", "uid-rs"))
            .await
            .unwrap();
    }
    for i in 0..10 {
        store
            .op(&admin(), put_raw(&format!("/raw/{i}"), vec![b'v'; 100]))
            .await
            .unwrap();
    }
    store.update(&admin(), cm("c03", "y"), None).await.unwrap();
    store
        .delete(&admin(), "/registry/configmaps/default/c04", None)
        .await
        .unwrap();
    store.compact(&admin(), Revision(20)).await.unwrap();
    store.update(&admin(), cm("c05", "z"), None).await.unwrap();
    store
}

fn all(store: &Store) -> Vec<skiff_store::Entry> {
    store.list("", &ListOptions::default()).unwrap().entries
}

#[tokio::test]
async fn a_snapshot_restores_to_an_equal_state() {
    let tmp = tempfile::tempdir().unwrap();
    let store = populated(&tmp.path().join("live")).await;
    let snap = tmp.path().join("snap.db");

    let saved = store.snapshot_save(&snap).unwrap();
    let live = store.status().unwrap();
    assert_eq!(saved, live);
    assert_eq!(saved.revision, Revision(49));
    assert_eq!(saved.compacted, Revision(20));
    // Writes after the snapshot are not in it.
    store
        .update(&admin(), cm("c06", "later"), None)
        .await
        .unwrap();
    let entries = {
        let mut entries = all(&store);
        entries.retain(|e| e.key != "/registry/configmaps/default/c06");
        entries
    };
    store.shutdown().await;
    drop(store);

    let status = Store::snapshot_status(&snap).unwrap();
    assert_eq!(status.status, saved);
    assert_eq!(status.size_bytes, std::fs::metadata(&snap).unwrap().len());
    assert!(!tmp.path().join("snap.db.part").exists());

    let target = tmp.path().join("restored");
    assert_eq!(Store::restore(&snap, &target).unwrap(), saved);
    assert!(!tmp.path().join("restored.restoring").exists());
    let restored = open(&target);
    assert_eq!(restored.status().unwrap(), saved);
    restored.verify().unwrap();
    let mut restored_entries = all(&restored);
    let c06 = restored_entries
        .iter()
        .find(|e| e.key == "/registry/configmaps/default/c06")
        .unwrap()
        .clone();
    assert_eq!(c06.stored.version, 1);
    restored_entries.retain(|e| e.key != "/registry/configmaps/default/c06");
    assert_eq!(restored_entries, entries);
    assert_eq!(
        restored.pods_on_node("node-1").unwrap().len(),
        5,
        "indexes are restored"
    );
    // History at and above the compacted revision reads as before; the restored store
    // continues the revision sequence.
    assert_eq!(
        restored
            .get_at("/registry/configmaps/default/c03", Revision(20))
            .unwrap()
            .stored
            .version,
        1
    );
    let next = restored
        .op(&admin(), put_raw("/raw/after", b"1".to_vec()))
        .await
        .unwrap();
    assert_eq!(next.revision, Revision(50));
    restored.shutdown().await;
}

#[tokio::test]
async fn an_empty_data_dir_is_a_valid_restore_target() {
    let tmp = tempfile::tempdir().unwrap();
    let store = populated(&tmp.path().join("live")).await;
    let snap = tmp.path().join("snap.db");
    let saved = store.snapshot_save(&snap).unwrap();
    store.shutdown().await;
    let target = tmp.path().join("empty");
    std::fs::create_dir(&target).unwrap();
    assert_eq!(Store::restore(&snap, &target).unwrap(), saved);
    assert!(target.join(DB_FILE).exists());
}

#[tokio::test]
async fn a_flipped_byte_anywhere_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = populated(&tmp.path().join("live")).await;
    let snap = tmp.path().join("snap.db");
    store.snapshot_save(&snap).unwrap();
    store.shutdown().await;
    let good = std::fs::read(&snap).unwrap();
    let len = good.len();
    let image = len - usize::try_from(TRAILER_BYTES).unwrap();

    // Every 997th byte of the database image and every byte of the trailer.
    let positions: Vec<usize> = (0..image).step_by(997).chain(image..len).collect();
    for &at in &positions {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&snap, &bad).unwrap();
        let err = Store::snapshot_status(&snap).unwrap_err();
        assert!(
            matches!(
                err,
                SnapshotError::Corrupt { .. }
                    | SnapshotError::NotASnapshot { .. }
                    | SnapshotError::Format { .. }
            ),
            "byte {at}: {err}"
        );
    }

    // The message says what failed; a restore refuses too and leaves nothing behind.
    let mut bad = good.clone();
    bad[image / 2] ^= 0x01;
    std::fs::write(&snap, &bad).unwrap();
    let err = Store::snapshot_status(&snap).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "snapshot {} is corrupt: database checksum 0x",
            snap.display()
        )),
        "{message}"
    );
    let target = tmp.path().join("restored");
    let err = Store::restore(&snap, &target).unwrap_err();
    assert!(matches!(err, SnapshotError::Corrupt { .. }), "{err}");
    assert!(!target.exists());
    assert!(!tmp.path().join("restored.restoring").exists());

    // The intact file still restores.
    std::fs::write(&snap, &good).unwrap();
    Store::restore(&snap, &target).unwrap();
}

#[tokio::test]
async fn files_that_are_not_snapshots_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let store = populated(&live).await;
    store.shutdown().await;
    drop(store);

    // A live database file is not a snapshot (no trailer).
    let err = Store::snapshot_status(&live.join(DB_FILE)).unwrap_err();
    assert!(matches!(err, SnapshotError::NotASnapshot { .. }), "{err}");
    let short = tmp.path().join("short");
    std::fs::write(&short, b"skiffsnp").unwrap();
    let err = Store::snapshot_status(&short).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a skiff snapshot: 8 bytes is shorter than a snapshot trailer",
            short.display()
        )
    );
    let err = Store::restore(&tmp.path().join("missing.db"), &tmp.path().join("r")).unwrap_err();
    assert!(matches!(err, SnapshotError::Io { .. }), "{err}");
    assert!(!tmp.path().join("r").exists());
}

#[tokio::test]
async fn restore_never_overwrites_a_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let store = populated(&tmp.path().join("live")).await;
    let snap = tmp.path().join("snap.db");
    store.snapshot_save(&snap).unwrap();
    store.shutdown().await;

    let target = tmp.path().join("busy");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"mine").unwrap();
    let err = Store::restore(&snap, &target).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "data directory {} exists and is not empty",
            target.display()
        )
    );
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}

#[tokio::test]
async fn defrag_shrinks_the_file_after_mass_deletes_and_keeps_the_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    let store = open(&dir);
    store.create(&admin(), cm("keep", "x")).await.unwrap();
    let mut pending = Vec::new();
    let value = vec![b'x'; 4096];
    let batch = |ops: Vec<Op>| Txn {
        success: ops,
        ..Txn::default()
    };
    for chunk in 0..20 {
        let keys = (0..100).map(|i| format!("/bulk/{chunk:02}/{i:03}"));
        let puts = keys.clone().map(|k| put_raw(&k, value.clone())).collect();
        store.txn(&admin(), batch(puts)).await.unwrap();
        let deletes = keys.map(|key| Op::Delete {
            key,
            expected: None,
        });
        // Deleted later, once every chunk is written, so the file grows to its peak first.
        pending.extend(deletes);
    }
    for chunk in pending.chunks(100) {
        store.txn(&admin(), batch(chunk.to_vec())).await.unwrap();
    }
    let head = store.status().unwrap().revision;
    store.compact(&admin(), head).await.unwrap();
    let before = store.status().unwrap();
    assert_eq!(before.keys, 1);
    store.shutdown().await;
    drop(store);

    let size_before = std::fs::metadata(dir.join(DB_FILE)).unwrap().len();
    let report = Store::defrag(&dir).unwrap();
    assert_eq!(report.status, before);
    assert_eq!(report.size_before_bytes, size_before);
    assert_eq!(
        report.size_after_bytes,
        std::fs::metadata(dir.join(DB_FILE)).unwrap().len()
    );
    assert!(
        report.size_after_bytes * 10 < size_before,
        "defrag left {} of {size_before} bytes",
        report.size_after_bytes
    );

    let store = open(&dir);
    assert_eq!(store.status().unwrap(), before);
    store.verify().unwrap();
    store.shutdown().await;
}

#[tokio::test]
async fn defrag_refuses_a_store_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("live");
    let store = populated(&dir).await;
    let err = Store::defrag(&dir).unwrap_err();
    assert!(matches!(err, SnapshotError::Redb { .. }), "{err}");
    store.verify().unwrap();
    store.shutdown().await;
    drop(store);

    let err = Store::defrag(&tmp.path().join("nothing")).unwrap_err();
    assert!(matches!(err, SnapshotError::NoDatabase { .. }), "{err}");
}
