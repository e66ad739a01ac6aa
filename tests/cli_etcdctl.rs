//! `skiff etcdctl` end to end: the real binary against a temporary data dir, exact outputs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use skiff_core::clock::ManualClock;
use skiff_core::event::Actor;
use skiff_core::object::{Node, ObjectMeta};
use skiff_store::{Backing, Store};

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn etcdctl(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("etcdctl")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs a command that must succeed; returns its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = etcdctl(dir, args);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

/// Runs a command that must fail; returns its standard error.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = etcdctl(dir, args);
    assert_eq!(out.code, 1, "{args:?} succeeded: {}", out.stdout);
    assert_eq!(out.stdout, "", "{args:?}");
    out.stderr
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn unbase64(v: &Value) -> String {
    String::from_utf8(BASE64.decode(v.as_str().unwrap()).unwrap()).unwrap()
}

fn pod(name: &str, namespace: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"{namespace}"}},"spec":{{"containers":[{{"name":"web","image":"nginx"}}]}}}}"#
    )
}

#[test]
fn raw_keys_put_get_and_del() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert_eq!(ok(d, &["put", "foo", "bar"]), "OK\n");
    assert_eq!(ok(d, &["put", "foo1", "bar1"]), "OK\n");
    assert_eq!(ok(d, &["put", "zoo", "z"]), "OK\n");
    assert_eq!(ok(d, &["get", "foo"]), "foo\nbar\n");
    assert_eq!(ok(d, &["get", "foo", "--prefix"]), "foo\nbar\nfoo1\nbar1\n");
    assert_eq!(ok(d, &["get", "foo", "--print-value-only"]), "bar\n");
    assert_eq!(
        ok(d, &["get", "fo", "--prefix", "--keys-only"]),
        "foo\n\nfoo1\n\n"
    );
    assert_eq!(ok(d, &["get", "nope"]), "");
    assert_eq!(ok(d, &["put", "foo", "baz"]), "OK\n");
    assert_eq!(ok(d, &["get", "foo"]), "foo\nbaz\n");
    assert_eq!(ok(d, &["del", "foo"]), "1\n");
    assert_eq!(ok(d, &["del", "foo"]), "0\n");
    assert_eq!(ok(d, &["get", "foo"]), "");
    assert_eq!(ok(d, &["del", "foo", "--prefix"]), "1\n");
    assert_eq!(ok(d, &["get", "", "--prefix"]), "zoo\nz\n");
}

/// Creates nodes through the store API, then closes the store.
async fn create_nodes(dir: &Path, names: &[&str]) {
    let store = Store::open(
        Backing::Dir(dir.to_owned()),
        Arc::new(ManualClock::new(1_700_000_000)),
    )
    .unwrap();
    for name in names {
        let node = Node {
            metadata: ObjectMeta::named(*name),
            ..Node::default()
        };
        store
            .create(&Actor::new("test"), node.into())
            .await
            .unwrap();
    }
    store.shutdown().await;
}

#[tokio::test]
async fn registry_keys_list_in_the_kubernetes_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Objects written through the store, as the API server writes them…
    create_nodes(d, &["worker-2", "worker-1"]).await;
    // …and through etcdctl put, with a manifest whose namespace comes from the key.
    for (ns, name) in [
        ("default", "web-3"),
        ("kube-system", "dns"),
        ("default", "web-1"),
    ] {
        let key = format!("/registry/pods/{ns}/{name}");
        assert_eq!(ok(d, &["put", &key, &pod(name, ns)]), "OK\n");
    }
    let replicaset = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: frontend\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: nginx\n";
    assert_eq!(
        ok(
            d,
            &["put", "/registry/replicasets/default/frontend", replicaset]
        ),
        "OK\n"
    );
    assert_eq!(ok(d, &["put", "/skiff/raw", "x"]), "OK\n");

    // The seed's command, TLS flags included (accepted; a local data dir needs none).
    let listed = ok(
        d,
        &[
            "get",
            "/",
            "--prefix",
            "--keys-only",
            "--limit=10",
            "--cacert",
            "/etc/kubernetes/pki/etcd/ca.crt",
            "--cert",
            "/etc/kubernetes/pki/etcd/server.crt",
            "--key",
            "/etc/kubernetes/pki/etcd/server.key",
        ],
    );
    assert_eq!(
        listed,
        "/registry/minions/worker-1\n\n\
         /registry/minions/worker-2\n\n\
         /registry/pods/default/web-1\n\n\
         /registry/pods/default/web-3\n\n\
         /registry/pods/kube-system/dns\n\n\
         /registry/replicasets/default/frontend\n\n\
         /skiff/raw\n\n"
    );
    assert_eq!(
        ok(
            d,
            &[
                "get",
                "/registry/",
                "--prefix",
                "--keys-only",
                "--limit",
                "2"
            ]
        ),
        "/registry/minions/worker-1\n\n/registry/minions/worker-2\n\n"
    );
    // Values under /registry/ print as JSON objects, with the stored resourceVersion.
    let got = ok(d, &["get", "/registry/pods/kube-system/dns"]);
    let (key, value) = got.split_once('\n').unwrap();
    assert_eq!(key, "/registry/pods/kube-system/dns");
    let object = json(value);
    assert_eq!(object["kind"], "Pod");
    assert_eq!(object["metadata"]["namespace"], "kube-system");
    assert_eq!(object["metadata"]["resourceVersion"], "4");
    // A put over an existing object replaces it.
    assert_eq!(
        ok(
            d,
            &[
                "put",
                "/registry/pods/kube-system/dns",
                &pod("dns", "kube-system")
            ]
        ),
        "OK\n"
    );
    let got = json(&ok(
        d,
        &["get", "/registry/pods/kube-system/dns", "-w", "json"],
    ));
    assert_eq!(got["kvs"][0]["create_revision"], 4);
    assert_eq!(got["kvs"][0]["mod_revision"], 8);
    assert_eq!(got["kvs"][0]["version"], 2);
}

#[test]
fn garbage_under_the_registry_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert_eq!(ok(d, &["put", "a", "1"]), "OK\n");
    let before = ok(d, &["endpoint", "status"]);

    assert_eq!(
        fails(d, &["put", "/registry/pods/default/x", "garbage"]),
        "Error: /registry/pods/default/x: document 1, line 1: a manifest document must be a mapping with apiVersion, kind and metadata\n"
    );
    assert_eq!(
        fails(
            d,
            &["put", "/registry/pods/default/x", &pod("y", "default")]
        ),
        "Error: pod/y belongs at /registry/pods/default/y, not at /registry/pods/default/x\n"
    );
    assert_eq!(
        fails(d, &["put", "/registry/pods/default/x", &pod("x", "other")]),
        "Error: pod/x belongs at /registry/pods/other/x, not at /registry/pods/default/x\n"
    );
    assert_eq!(
        fails(d, &["put", "/registry/widgets/x", "{}"]),
        "Error: no kind is stored under /registry/widgets/x: /registry/ holds only typed objects at their registry keys\n"
    );
    let invalid = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"default"},"spec":{"containers":[]}}"#;
    let err = fails(d, &["put", "/registry/pods/default/x", invalid]);
    assert!(
        err.starts_with("Error: pod/x is invalid: spec.containers: Required value"),
        "{err}"
    );

    assert_eq!(ok(d, &["endpoint", "status"]), before);
    assert_eq!(ok(d, &["get", "/registry/", "--prefix"]), "");
}

#[test]
fn past_revisions_read_until_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["put", "foo", "v1"]);
    ok(d, &["put", "foo", "v2"]);
    ok(d, &["put", "bar", "b"]);
    assert_eq!(ok(d, &["get", "foo", "--rev", "1"]), "foo\nv1\n");
    assert_eq!(ok(d, &["get", "foo", "--rev=2"]), "foo\nv2\n");
    assert_eq!(ok(d, &["get", "", "--prefix", "--rev", "2"]), "foo\nv2\n");
    assert_eq!(ok(d, &["get", "bar", "--rev", "2"]), "");
    assert_eq!(
        fails(d, &["get", "foo", "--rev", "9"]),
        "Error: mvcc: required revision is a future revision (requested 9, head 3)\n"
    );

    assert_eq!(ok(d, &["compaction", "2"]), "compacted revision 2\n");
    assert_eq!(
        fails(d, &["get", "foo", "--rev", "1"]),
        "Error: mvcc: required revision has been compacted (requested 1, compacted revision 2)\n"
    );
    assert_eq!(
        fails(d, &["get", "", "--prefix", "--rev", "1"]),
        "Error: mvcc: required revision has been compacted (requested 1, compacted revision 2)\n"
    );
    assert_eq!(ok(d, &["get", "foo", "--rev", "2"]), "foo\nv2\n");
    assert_eq!(
        fails(d, &["compaction", "1"]),
        "Error: cannot compact to revision 1: already compacted to 2\n"
    );
}

#[test]
fn json_output_is_shaped_like_etcdctl() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["put", "k1", "v1"]);
    ok(d, &["put", "k2", "v2"]);
    ok(d, &["put", "k1", "v1b"]);

    let got = json(&ok(d, &["get", "k1", "-w", "json"]));
    assert_eq!(got["header"]["revision"], 3);
    assert_eq!(got["count"], 1);
    let kv = &got["kvs"][0];
    assert_eq!(unbase64(&kv["key"]), "k1");
    assert_eq!(unbase64(&kv["value"]), "v1b");
    assert_eq!(
        (&kv["create_revision"], &kv["mod_revision"], &kv["version"]),
        (&Value::from(1), &Value::from(3), &Value::from(2))
    );

    let page = json(&ok(
        d,
        &["get", "k", "--prefix", "--limit", "1", "-w", "json"],
    ));
    assert_eq!(page["more"], true);
    assert_eq!(page["count"], 2);
    assert_eq!(page["kvs"].as_array().unwrap().len(), 1);

    let keys = json(&ok(
        d,
        &["--write-out=json", "get", "k", "--prefix", "--keys-only"],
    ));
    assert_eq!(keys["kvs"][1].get("value"), None);
    assert_eq!(keys.get("more"), None);

    let old = json(&ok(d, &["get", "k1", "--rev", "1", "-w", "json"]));
    assert_eq!(
        old["header"]["revision"], 3,
        "the header carries the current revision"
    );
    assert_eq!(unbase64(&old["kvs"][0]["value"]), "v1");

    assert_eq!(
        ok(d, &["get", "missing", "-w", "json"]),
        "{\"header\":{\"revision\":3}}\n"
    );
    assert_eq!(
        ok(d, &["put", "k3", "v3", "-w", "json"]),
        "{\"header\":{\"revision\":4}}\n"
    );
    assert_eq!(
        ok(d, &["del", "k", "--prefix", "-w", "json"]),
        "{\"header\":{\"revision\":7},\"deleted\":3}\n"
    );
}

#[test]
fn watch_replays_events_from_a_revision() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["put", "foo", "bar"]);
    ok(d, &["put", "other", "x"]);
    ok(d, &["put", "foo1", "bar1"]);
    ok(d, &["del", "foo"]);
    assert_eq!(
        ok(
            d,
            &[
                "watch",
                "foo",
                "--prefix",
                "--rev",
                "1",
                "--max-events",
                "3"
            ]
        ),
        "PUT\nfoo\nbar\nPUT\nfoo1\nbar1\nDELETE\nfoo\n\n"
    );
    assert_eq!(
        ok(d, &["watch", "foo", "--rev", "2", "--max-events", "1"]),
        "DELETE\nfoo\n\n"
    );
    let lines = ok(
        d,
        &[
            "watch",
            "foo",
            "--rev",
            "1",
            "--max-events",
            "2",
            "-w",
            "json",
        ],
    );
    let events: Vec<Value> = lines.lines().map(json).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["Header"]["revision"], 1);
    assert_eq!(events[0]["Events"][0].get("type"), None, "PUT is type 0");
    assert_eq!(unbase64(&events[0]["Events"][0]["kv"]["value"]), "bar");
    assert_eq!(events[1]["Events"][0]["type"], 1, "DELETE is type 1");
    assert_eq!(events[1]["Events"][0]["kv"]["mod_revision"], 4);

    ok(d, &["compaction", "3"]);
    assert_eq!(
        fails(d, &["watch", "foo", "--rev", "2", "--max-events", "1"]),
        "Error: mvcc: required revision has been compacted (requested 2, compacted revision 3)\n"
    );
    // As in etcd, the compacted revision itself can still be watched from.
    assert_eq!(
        ok(
            d,
            &[
                "watch",
                "foo",
                "--prefix",
                "--rev",
                "3",
                "--max-events",
                "2"
            ]
        ),
        "PUT\nfoo1\nbar1\nDELETE\nfoo\n\n"
    );
}

#[test]
fn snapshot_save_restore_and_status_agree_on_the_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("live");
    for i in 0..5 {
        ok(
            &d,
            &[
                "put",
                &format!("/registry/pods/default/p{i}"),
                &pod(&format!("p{i}"), "default"),
            ],
        );
    }
    ok(&d, &["put", "raw", "value"]);
    ok(&d, &["del", "/registry/pods/default/p0"]);
    let live = json(&ok(&d, &["endpoint", "status", "-w", "json"]));
    let live = &live[0]["Status"];
    assert_eq!(live["header"]["revision"], 7);
    assert_eq!(live["keys"], 5);

    let snap = tmp.path().join("snap.db");
    let snap_arg = snap.to_str().unwrap();
    assert_eq!(
        ok(&d, &["snapshot", "save", snap_arg]),
        format!("Snapshot saved at {snap_arg}\n")
    );
    let own = d.join("skiff.redb");
    assert_eq!(
        fails(&d, &["snapshot", "save", own.to_str().unwrap()]),
        format!(
            "Error: refusing to write a snapshot over the store's own database {}\n",
            own.display()
        )
    );
    let status = json(&ok(&d, &["snapshot", "status", snap_arg, "-w", "json"]));
    let size = std::fs::metadata(&snap).unwrap().len();
    assert_eq!(status["hash"], live["hash"]);
    assert_eq!(status["revision"], 7);
    assert_eq!(status["totalKey"], 5);
    assert_eq!(status["totalSize"], size);

    let hash = format!("{:x}", live["hash"].as_u64().unwrap());
    let human = format!("{} kB", (size + 500) / 1000);
    assert_eq!(
        ok(&d, &["snapshot", "status", snap_arg]),
        format!("{hash}, 7, 5, {human}\n")
    );
    let table = ok(&d, &["snapshot", "status", snap_arg, "-w", "table"]);
    let w = hash.len();
    let rule = format!(
        "+{}+----------+------------+------------+",
        "-".repeat(w + 2)
    );
    let left = (w - 4) / 2;
    assert_eq!(
        table,
        format!(
            "{rule}\n| {}HASH{} | REVISION | TOTAL KEYS | TOTAL SIZE |\n{rule}\n| {hash} |        7 |          5 | {human:<10} |\n{rule}\n",
            " ".repeat(left),
            " ".repeat(w - 4 - left)
        )
    );

    let restored = tmp.path().join("restored");
    assert_eq!(
        ok(&restored, &["snapshot", "restore", snap_arg]),
        format!(
            "Snapshot restored into {} at revision 7 (hash {hash})\n",
            restored.display()
        )
    );
    let again = json(&ok(&restored, &["endpoint", "status", "-w", "json"]));
    assert_eq!(again[0]["Status"]["hash"], live["hash"]);
    assert_eq!(again[0]["Status"]["header"]["revision"], 7);
    assert_eq!(
        ok(
            &restored,
            &["get", "/registry/pods/", "--prefix", "--keys-only"]
        ),
        "/registry/pods/default/p1\n\n/registry/pods/default/p2\n\n/registry/pods/default/p3\n\n/registry/pods/default/p4\n\n"
    );
    // Restore never overwrites.
    assert_eq!(
        fails(&restored, &["snapshot", "restore", snap_arg]),
        format!(
            "Error: data directory {} exists and is not empty\n",
            restored.display()
        )
    );

    // A damaged snapshot is refused by status and by restore.
    let mut bytes = std::fs::read(&snap).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&snap, &bytes).unwrap();
    let err = fails(&d, &["snapshot", "status", snap_arg]);
    assert!(
        err.starts_with(&format!(
            "Error: snapshot {snap_arg} is corrupt: database checksum 0x"
        )),
        "{err}"
    );
    let other = tmp.path().join("other");
    fails(&other, &["snapshot", "restore", snap_arg]);
    assert!(!other.exists());
}

#[test]
fn endpoint_health_status_and_defrag() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let shown = d.display().to_string();
    let missing = fails(d, &["endpoint", "status"]);
    assert_eq!(
        missing,
        format!("Error: no skiff store in {shown} (skiff.redb not found); pass --data-dir\n")
    );
    assert!(!d.join("skiff.redb").exists(), "reads never create a store");

    ok(d, &["put", "a", "1"]);
    let health = ok(d, &["endpoint", "health"]);
    assert!(
        health.starts_with(&format!(
            "{shown} is healthy: verified the projection against the log at revision 1: took = "
        )),
        "{health}"
    );
    let health = json(&ok(d, &["endpoint", "health", "-w", "json"]));
    assert_eq!(health[0]["endpoint"], shown.as_str());
    assert_eq!(health[0]["health"], true);

    let status = ok(d, &["endpoint", "status", "-w", "table"]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 5);
    let header: Vec<&str> = lines[1].split('|').map(str::trim).collect();
    assert_eq!(
        header,
        [
            "",
            "ENDPOINT",
            "VERSION",
            "DB SIZE",
            "REVISION",
            "COMPACT REVISION",
            "KEYS",
            "EVENTS",
            "HASH",
            ""
        ]
    );
    let row: Vec<&str> = lines[3].split('|').map(str::trim).collect();
    assert_eq!(row[1], shown);
    assert_eq!(row[2], env!("CARGO_PKG_VERSION"));
    assert_eq!(&row[4..8], ["1", "0", "1", "1"]);

    assert_eq!(
        ok(d, &["defrag"]),
        format!("Finished defragmenting skiff store[{shown}]\n")
    );
    assert_eq!(ok(d, &["get", "a"]), "a\n1\n");
}
