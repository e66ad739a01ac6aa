//! Replays the store's fuzz targets' seed inputs and saved regressions on stable, so CI covers
//! them: every file in `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` goes through the
//! target's body in `skiff_store::fuzz` (see FUZZING.md).

use std::fs;
use std::path::{Path, PathBuf};

use skiff_core::event::{Actor, Change, Event, Revision};
use skiff_core::object::{ConfigMap, MicroTime, ObjectMeta, Pod};
use skiff_store::codec::{self, Stored, StoredValue};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The seeds and regressions of `target`; at least one seed, so a moved directory fails loudly.
fn corpus(target: &str) -> Vec<PathBuf> {
    let mut inputs = files_in(&fuzz_dir().join("seeds").join(target));
    assert!(
        !inputs.is_empty(),
        "no seeds for {target} in fuzz/seeds/{target}"
    );
    inputs.extend(files_in(&fuzz_dir().join("regressions").join(target)));
    inputs
}

fn replay(inputs: &[PathBuf], body: fn(&[u8])) {
    for input in inputs {
        let bytes = fs::read(input).unwrap();
        eprintln!("replaying {}", input.display());
        body(&bytes);
    }
}

#[test]
fn log_record_target_holds_on_seeds_and_regressions() {
    replay(&corpus("log_record"), skiff_store::fuzz::log_record);
}

#[test]
fn store_ops_target_holds_on_seeds_and_regressions() {
    replay(&corpus("store_ops"), skiff_store::fuzz::store_ops);
}

/// Records of every change kind, as the writer encodes them: the `log_record` seeds.
fn seed_records() -> Vec<(&'static str, Vec<u8>)> {
    let meta = |name: &str| ObjectMeta {
        namespace: Some("default".into()),
        resource_version: Some("3".into()),
        ..ObjectMeta::named(name)
    };
    let config_map = ConfigMap {
        metadata: meta("settings"),
        data: [("mode".to_owned(), "fast".to_owned())].into(),
        ..ConfigMap::default()
    };
    let mut pod = Pod {
        metadata: meta("web"),
        ..Pod::default()
    };
    pod.spec.node_name = Some("worker-1".into());
    let event = |revision: u64, change: Change| Event {
        revision: Revision(revision),
        at: MicroTime::from_unix_micros(1_704_067_200_000_000),
        actor: Actor::new("admin"),
        change,
    };
    let events = [
        (
            "event-create-configmap",
            event(1, Change::Create(config_map.clone().into())),
        ),
        (
            "event-update-pod",
            event(
                3,
                Change::Update {
                    object: pod.clone().into(),
                    create_revision: Revision(2),
                    version: 2,
                },
            ),
        ),
        ("event-delete-pod", event(4, Change::Delete(pod.into()))),
        (
            "event-put-raw",
            event(
                5,
                Change::PutRaw {
                    key: "/a".into(),
                    value: vec![0, 1, 255],
                    create_revision: Revision(5),
                    version: 1,
                },
            ),
        ),
        (
            "event-delete-raw",
            event(6, Change::DeleteRaw { key: "/a".into() }),
        ),
        (
            "event-compact",
            event(7, Change::Compact { below: Revision(4) }),
        ),
    ];
    let mut records: Vec<(&str, Vec<u8>)> = events
        .iter()
        .map(|(name, event)| (*name, codec::encode_event(event)))
        .collect();
    records.push((
        "stored-configmap",
        codec::encode_stored(&Stored {
            create_revision: Revision(1),
            mod_revision: Revision(3),
            version: 2,
            value: StoredValue::Object(config_map.into()),
        }),
    ));
    records.push((
        "stored-raw",
        codec::encode_stored(&Stored {
            create_revision: Revision(5),
            mod_revision: Revision(5),
            version: 1,
            value: StoredValue::Raw(b"value".to_vec()),
        }),
    ));
    records
}

/// The committed `log_record` seeds are exactly what the codec writes today; after a format
/// change, regenerate them with `SKIFF_WRITE_SEEDS=1 cargo test -p skiff-store --test
/// fuzz_replay log_record_seeds`.
#[test]
fn log_record_seeds_match_the_codec() {
    let dir = fuzz_dir().join("seeds/log_record");
    let write = std::env::var_os("SKIFF_WRITE_SEEDS").is_some();
    for (name, bytes) in seed_records() {
        let path = dir.join(name);
        if write {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, &bytes).unwrap();
        }
        let committed = fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (regenerate: see this test's doc)", path.display())
        });
        assert_eq!(
            committed,
            bytes,
            "{} is stale (see this test's doc)",
            path.display()
        );
        // Raw payloads too: the target frames them itself.
        skiff_store::fuzz::log_record(&bytes[5..]);
    }
}

#[test]
fn wire_frame_target_holds_on_seeds_and_regressions() {
    replay(&corpus("wire_frame"), skiff_store::wire::decode_frame);
}

/// Frame streams a client and a server really send: the `wire_frame` seeds.
fn wire_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use skiff_core::client::{Binding, ListParams, WatchEvent};
    use skiff_core::status::Status;
    use skiff_store::wire::{ClientMessage, PROTOCOL_VERSION, Request, Response, ServerMessage};
    let pod = Pod::new(
        "web",
        vec![skiff_core::object::Container::new("nginx", "nginx:1.27")],
    );
    let client = [
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token: "t0ken".into(),
        },
        ClientMessage::Request {
            id: 1,
            request: Request::Create {
                namespace: Some("default".into()),
                object: pod.clone().into(),
            },
        },
        ClientMessage::Request {
            id: 2,
            request: Request::List {
                resource: "pods".into(),
                namespace: None,
                params: ListParams {
                    label_selector: "app=web,tier in (a,b)".into(),
                    field_selector: "spec.nodeName=n1".into(),
                    limit: 10,
                    continue_token: None,
                    resource_version: Some("7".into()),
                },
            },
        },
        ClientMessage::Request {
            id: 3,
            request: Request::Bind {
                namespace: "default".into(),
                name: "web".into(),
                binding: Binding {
                    node: "n1".into(),
                    uid: Some("u".into()),
                    resource_version: None,
                },
            },
        },
        ClientMessage::Cancel { id: 2 },
    ];
    let server = [
        ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            user: "admin".into(),
            member: Some(3),
        },
        ServerMessage::Response {
            id: 1,
            result: Ok(Response::Object(pod.clone().into())),
        },
        ServerMessage::Response {
            id: 3,
            result: Err(Status::not_found("pods", "web")),
        },
        ServerMessage::WatchEvent {
            id: 2,
            event: WatchEvent::Modified(pod.into()),
        },
        ServerMessage::WatchEvent {
            id: 2,
            event: WatchEvent::Bookmark(42),
        },
    ];
    let stream = |frames: Vec<Vec<u8>>| frames.concat();
    vec![
        (
            "client-stream",
            stream(client.iter().map(|m| m.to_frame().unwrap()).collect()),
        ),
        (
            "server-stream",
            stream(server.iter().map(|m| m.to_frame().unwrap()).collect()),
        ),
        ("hello-only", client[0].to_frame().unwrap()),
    ]
}

/// Writes the `wire_frame` seeds when `SKIFF_WRITE_SEEDS` is set, and replays them as the
/// target would.
#[test]
fn wire_frame_seeds_decode() {
    let dir = fuzz_dir().join("seeds/wire_frame");
    let write = std::env::var_os("SKIFF_WRITE_SEEDS").is_some();
    for (name, bytes) in wire_seeds() {
        if write {
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(name), &bytes).unwrap();
        }
        skiff_store::wire::decode_frame(&bytes);
    }
}
