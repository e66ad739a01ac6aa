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
        "Error: mvcc: required revision has been compacted (requested 1, compacted revision 2)\n"
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

// ---- through the server (`skiff up`, `--server`) ----

/// A `skiff up` on free loopback ports, stopped (Ctrl-C) when dropped.
struct Server {
    child: Option<std::process::Child>,
    data: std::path::PathBuf,
    addr: String,
}

impl Server {
    /// Starts `skiff up` without worker nodes (so nothing but the control plane writes) and
    /// waits for its client config.
    fn up(data: &Path, extra: &[&str]) -> Server {
        let _ = std::fs::remove_file(data.join("config.json"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .arg("--data-dir")
            .arg(data)
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--nodes",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..400 {
            if let Ok(text) = std::fs::read_to_string(data.join("config.json"))
                && let Ok(config) = serde_json::from_str::<Value>(&text)
            {
                return Server {
                    child: Some(child),
                    data: data.to_owned(),
                    addr: config["server"].as_str().unwrap().to_owned(),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("skiff up did not write its config within 20 s");
    }

    /// `skiff etcdctl --server ADDR ARGS` as the admin (token from the data dir's config).
    fn etcdctl(&self, args: &[&str]) -> Output {
        self.etcdctl_as(None, args)
    }

    /// The same with another bearer token.
    fn etcdctl_as(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_skiff"));
        command
            .arg("etcdctl")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--server", &self.addr]);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        let output = command.args(args).stdin(Stdio::null()).output().unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// `put KEY` with the value on standard input (values too long for a command line).
    fn put_stdin(&self, key: &str, value: &[u8]) -> String {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .arg("etcdctl")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--server", &self.addr, "put", key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(value).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// A command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.etcdctl(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr, "", "{args:?}");
        out.stdout
    }

    /// A command that must fail; its standard error.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.etcdctl(args);
        assert_eq!(out.code, 1, "{args:?} succeeded: {}", out.stdout);
        assert_eq!(out.stdout, "", "{args:?}");
        out.stderr
    }

    /// The head revision, from `get -w json`'s header.
    fn head(&self) -> u64 {
        json(&self.ok(&["get", "none", "-w", "json"]))["header"]["revision"]
            .as_u64()
            .unwrap()
    }

    /// Stops the server with Ctrl-C (SIGINT) and waits for a clean exit.
    fn stop(mut self) {
        let child = self.child.take().unwrap();
        interrupt_and_wait(child, true);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends SIGINT (Ctrl-C) to a child and waits; checks a clean exit when asked.
fn interrupt_and_wait(mut child: std::process::Child, clean: bool) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    if clean {
        assert!(exit.success(), "exits cleanly on Ctrl-C: {exit}");
    }
    exit
}

fn configmap(name: &str, value: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default"}},"data":{{"k":"{value}"}}}}"#
    )
}

#[test]
fn every_verb_works_through_the_server_with_etcdctls_output() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::up(tmp.path(), &[]);
    // put / get, simple format.
    assert_eq!(server.ok(&["put", "/skiff/foo", "bar"]), "OK\n");
    assert_eq!(server.ok(&["put", "/skiff/foo1", "bar1"]), "OK\n");
    assert_eq!(server.ok(&["get", "/skiff/foo"]), "/skiff/foo\nbar\n");
    assert_eq!(
        server.ok(&["get", "/skiff/", "--prefix"]),
        "/skiff/foo\nbar\n/skiff/foo1\nbar1\n"
    );
    assert_eq!(
        server.ok(&["get", "/skiff/", "--prefix", "--keys-only"]),
        "/skiff/foo\n\n/skiff/foo1\n\n"
    );
    assert_eq!(
        server.ok(&["get", "/skiff/foo", "--print-value-only"]),
        "bar\n"
    );
    assert_eq!(server.ok(&["get", "/skiff/nope"]), "");

    // -w json: the put's header revision is the key's mod_revision.
    let put = json(&server.ok(&["put", "/skiff/foo", "baz", "-w", "json"]));
    let r2 = put["header"]["revision"].as_u64().unwrap();
    let got = json(&server.ok(&["get", "/skiff/foo", "-w", "json"]));
    assert!(got["header"]["revision"].as_u64().unwrap() >= r2);
    assert_eq!(got["count"], 1);
    let kv = &got["kvs"][0];
    assert_eq!(unbase64(&kv["key"]), "/skiff/foo");
    assert_eq!(unbase64(&kv["value"]), "baz");
    assert_eq!(
        (&kv["mod_revision"], &kv["version"]),
        (&Value::from(r2), &Value::from(2))
    );
    let first = kv["create_revision"].as_u64().unwrap();
    assert!(first < r2);
    // --rev reads the past; --limit pages with etcd's more/count.
    assert_eq!(
        server.ok(&["get", "/skiff/foo", "--rev", &first.to_string()]),
        "/skiff/foo\nbar\n"
    );
    let page = json(&server.ok(&[
        "get",
        "/skiff/",
        "--prefix",
        "--limit",
        "1",
        "--keys-only",
        "-w",
        "json",
    ]));
    assert_eq!(
        (
            &page["more"],
            &page["count"],
            page["kvs"].as_array().unwrap().len()
        ),
        (&Value::from(true), &Value::from(2), 1)
    );
    assert_eq!(page["kvs"][0].get("value"), None);

    // Objects under /registry/ are typed: a manifest goes in, JSON comes out.
    let key = "/registry/configmaps/default/web";
    assert_eq!(server.ok(&["put", key, &configmap("web", "1")]), "OK\n");
    let (shown_key, value) = server
        .ok(&["get", key])
        .split_once('\n')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .unwrap();
    assert_eq!(shown_key, key);
    let object = json(&value);
    assert_eq!(
        (&object["kind"], &object["data"]["k"]),
        (&Value::from("ConfigMap"), &Value::from("1"))
    );

    // del, simple and json.
    assert_eq!(server.ok(&["del", "/skiff/foo1"]), "1\n");
    assert_eq!(server.ok(&["del", "/skiff/foo1"]), "0\n");
    let deleted = json(&server.ok(&["del", "/skiff/", "--prefix", "-w", "json"]));
    assert_eq!(deleted["deleted"], 1);
    assert_eq!(
        deleted["header"]["revision"].as_u64().unwrap(),
        server.head()
    );
    assert_eq!(server.ok(&["get", "/skiff/", "--prefix"]), "");
    let data = server.data.clone();
    server.stop();
    assert_eq!(actors_of(&data, key), ["admin"]);
}

/// The users who made the retained events on `key` (the store opened after the server
/// stopped).
fn actors_of(data: &Path, key: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(
            Backing::Dir(data.to_owned()),
            Arc::new(ManualClock::new(1_700_000_000)),
        )
        .unwrap();
        let history = store.history(key).unwrap();
        store.shutdown().await;
        history.iter().map(|e| e.actor.user.clone()).collect()
    })
}

#[test]
fn compaction_and_status_through_the_server_speak_etcds_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::up(tmp.path(), &[]);
    let first = json(&server.ok(&["put", "/skiff/foo", "bar", "-w", "json"]))["header"]["revision"]
        .as_u64()
        .unwrap();
    let r2 = json(&server.ok(&["put", "/skiff/foo", "baz", "-w", "json"]))["header"]["revision"]
        .as_u64()
        .unwrap();
    assert_eq!(
        server.ok(&["get", "/skiff/foo", "--rev", &first.to_string()]),
        "/skiff/foo\nbar\n"
    );
    // compaction, with etcd's errors for a compacted and a future revision.
    let head = server.head();
    assert_eq!(
        server.ok(&["compaction", &r2.to_string()]),
        format!("compacted revision {r2}\n")
    );
    assert_eq!(
        server.fails(&["compaction", &r2.to_string()]),
        "Error: etcdserver: mvcc: required revision has been compacted\n"
    );
    assert_eq!(
        server.fails(&["compaction", "1000000000"]),
        "Error: etcdserver: mvcc: required revision is a future revision\n"
    );
    assert_eq!(
        server.fails(&["get", "/skiff/foo", "--rev", &first.to_string()]),
        "Error: etcdserver: mvcc: required revision has been compacted\n"
    );
    assert_eq!(
        server.fails(&["get", "/skiff/foo", "--rev", "1000000000"]),
        "Error: etcdserver: mvcc: required revision is a future revision\n"
    );

    // endpoint status: the server's address, the store's figures.
    let status = json(&server.ok(&["endpoint", "status", "-w", "json"]));
    assert_eq!(status[0]["Endpoint"], server.addr.as_str());
    assert_eq!(status[0]["Status"]["compactRevision"], r2);
    assert!(status[0]["Status"]["header"]["revision"].as_u64().unwrap() >= head);
    let health = server.ok(&["endpoint", "health"]);
    assert!(
        health.starts_with(&format!(
            "{} is healthy: read the store's status at revision ",
            server.addr
        )),
        "{health}"
    );
    // defrag needs the store stopped.
    assert_eq!(
        server.fails(&["defrag"]),
        "Error: defrag needs the store to itself: stop skiff up, then run skiff etcdctl defrag --data-dir DIR\n"
    );
    let data = server.data.clone();
    server.stop();

    // Every write is in the log with the admin as its actor.
    assert_eq!(
        actors_of(&data, "/skiff/foo"),
        ["admin"],
        "the compaction kept the latest put only"
    );
}

#[test]
fn a_user_without_the_etcd_rule_is_refused_with_upstreams_message() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens.csv");
    std::fs::write(&tokens, "s3cret-jane,jane,1001,\"devs\"\n").unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let server = Server::up(&data, &["--token-auth-file", tokens.to_str().unwrap()]);
    assert_eq!(server.ok(&["put", "k", "v"]), "OK\n");
    let refused = |args: &[&str]| {
        let out = server.etcdctl_as(Some("s3cret-jane"), args);
        assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{args:?}");
        out.stderr
    };
    for (args, verb) in [
        (&["get", "k"][..], "get"),
        (&["put", "k", "mine"][..], "put"),
        (&["del", "k"][..], "delete"),
        (&["compaction", "1"][..], "compact"),
        (&["watch", "k"][..], "watch"),
        (&["endpoint", "status"][..], "get"),
    ] {
        assert_eq!(
            refused(args),
            format!("Error: forbidden: User \"jane\" cannot {verb} path \"/etcd\"\n")
        );
    }
    let snap = tmp.path().join("snap.db");
    assert_eq!(
        refused(&["snapshot", "save", snap.to_str().unwrap()]),
        "Error: forbidden: User \"jane\" cannot snapshot path \"/etcd\"\n"
    );
    assert!(!snap.exists());
    assert!(!tmp.path().join("snap.db.part").exists());
    assert_eq!(server.ok(&["get", "k"]), "k\nv\n", "nothing changed");

    // A ClusterRole granting `get` on the path /etcd lets jane read, and only read.
    let rbac = tmp.path().join("etcd-reader.yaml");
    std::fs::write(
        &rbac,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: etcd-reader\nrules:\n- nonResourceURLs: [\"/etcd\"]\n  verbs: [\"get\"]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: jane-reads-etcd\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: etcd-reader\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: jane\n",
    )
    .unwrap();
    let applied = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(&data)
        .args(["apply", "-f", rbac.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    // The authorizer picks role changes up from the log's watch, a moment later.
    let mut read = server.etcdctl_as(Some("s3cret-jane"), &["get", "k"]);
    for _ in 0..100 {
        if read.code == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        read = server.etcdctl_as(Some("s3cret-jane"), &["get", "k"]);
    }
    assert_eq!(
        (read.code, read.stdout.as_str()),
        (0, "k\nv\n"),
        "{}",
        read.stderr
    );
    assert_eq!(
        refused(&["put", "k", "mine"]),
        "Error: forbidden: User \"jane\" cannot put path \"/etcd\"\n"
    );
    server.stop();
}

#[test]
fn an_invalid_registry_put_through_the_server_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::up(tmp.path(), &[]);
    let head = server.head();
    assert_eq!(
        server.fails(&["put", "/registry/pods/default/x", "garbage"]),
        "Error: /registry/pods/default/x: document 1, line 1: a manifest document must be a mapping with apiVersion, kind and metadata\n"
    );
    assert_eq!(
        server.fails(&["put", "/registry/pods/default/x", &pod("y", "default")]),
        "Error: pod/y belongs at /registry/pods/default/y, not at /registry/pods/default/x\n"
    );
    assert_eq!(
        server.fails(&["put", "/registry/widgets/x", "{}"]),
        "Error: no kind is stored under /registry/widgets/x: /registry/ holds only typed objects at their registry keys\n"
    );
    let invalid = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"default"},"spec":{"containers":[]}}"#;
    let err = server.fails(&["put", "/registry/pods/default/x", invalid]);
    assert!(
        err.starts_with("Error: pod/x is invalid: spec.containers: Required value"),
        "{err}"
    );
    assert_eq!(
        server.ok(&["get", "/registry/pods/default/", "--prefix"]),
        ""
    );
    // Refusals write nothing (the control plane's own writes may move the head meanwhile,
    // but none of them is under /registry/pods/).
    assert!(server.head() >= head);
    server.stop();
}

#[test]
fn watch_through_the_server_sees_a_put_made_by_another_client() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::up(tmp.path(), &[]);
    let from = server.head() + 1;
    let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("etcdctl")
        .arg("--data-dir")
        .arg(tmp.path())
        .args([
            "--server",
            &server.addr,
            "watch",
            "/w/",
            "--prefix",
            "--rev",
        ])
        .arg(from.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_event =
        || -> Vec<String> { (0..3).map(|_| lines.next().unwrap().unwrap()).collect() };
    assert_eq!(server.ok(&["put", "/w/a", "1"]), "OK\n");
    assert_eq!(next_event(), ["PUT", "/w/a", "1"]);
    // The watcher has printed an event, so it is live: these arrive as they happen.
    assert_eq!(server.ok(&["put", "/other", "x"]), "OK\n");
    assert_eq!(server.ok(&["put", "/w/b", "2"]), "OK\n");
    assert_eq!(next_event(), ["PUT", "/w/b", "2"]);
    assert_eq!(server.ok(&["del", "/w/a"]), "1\n");
    assert_eq!(next_event(), ["DELETE", "/w/a", ""]);
    // Ctrl-C ends it.
    let exit = interrupt_and_wait(child, false);
    assert!(!exit.success());

    // --rev replays history, in JSON too; --max-events ends the watch.
    let replayed = server.ok(&[
        "watch",
        "/w/",
        "--prefix",
        "--rev",
        &from.to_string(),
        "--max-events",
        "3",
    ]);
    assert_eq!(replayed, "PUT\n/w/a\n1\nPUT\n/w/b\n2\nDELETE\n/w/a\n\n");
    let events: Vec<Value> = server
        .ok(&[
            "watch",
            "/w/b",
            "--rev",
            &from.to_string(),
            "--max-events",
            "1",
            "-w",
            "json",
        ])
        .lines()
        .map(json)
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(unbase64(&events[0]["Events"][0]["kv"]["key"]), "/w/b");
    assert_eq!(unbase64(&events[0]["Events"][0]["kv"]["value"]), "2");

    // A watch from a compacted revision is canceled, as etcd cancels it.
    let head = server.head();
    server.ok(&["compaction", &head.to_string()]);
    let out = server.etcdctl(&["watch", "/w/", "--prefix", "--rev", &from.to_string()]);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""));
    assert_eq!(
        out.stderr,
        "watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server\n"
    );
    server.stop();
}

#[test]
fn snapshot_saved_through_the_server_restores_into_a_server_serving_the_same_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let server = Server::up(&live, &[]);
    for i in 0..20 {
        let name = format!("cm-{i}");
        let key = format!("/registry/configmaps/default/{name}");
        assert_eq!(
            server.ok(&["put", &key, &configmap(&name, &i.to_string())]),
            "OK\n"
        );
    }
    // A value bigger than one snapshot chunk, so the snapshot travels as many frames.
    let big = "x".repeat(600 * 1024);
    assert_eq!(server.put_stdin("/skiff/big", big.as_bytes()), "OK\n");
    let before = server.ok(&["get", "/registry/configmaps/default/", "--prefix"]);
    assert_eq!(before.lines().count(), 40);

    let snap = tmp.path().join("snap.db");
    let snap_arg = snap.to_str().unwrap();
    assert_eq!(
        server.ok(&["snapshot", "save", snap_arg]),
        format!("Snapshot saved at {snap_arg}\n")
    );
    assert!(!tmp.path().join("snap.db.part").exists());
    assert!(std::fs::metadata(&snap).unwrap().len() > 600 * 1024);
    // status and restore read files: with or without --server.
    let status = json(&server.ok(&["snapshot", "status", snap_arg, "-w", "json"]));
    assert_eq!(status["totalSize"], std::fs::metadata(&snap).unwrap().len());
    let keys = status["totalKey"].as_u64().unwrap();
    assert!(keys >= 21, "{status}");
    let hash = format!("{:x}", status["hash"].as_u64().unwrap());
    let revision = status["revision"].as_u64().unwrap();
    server.stop();

    let restored = tmp.path().join("restored");
    assert_eq!(
        ok(&restored, &["snapshot", "restore", snap_arg]),
        format!(
            "Snapshot restored into {} at revision {revision} (hash {hash})\n",
            restored.display()
        )
    );
    let again = Server::up(&restored, &[]);
    assert_eq!(
        again.ok(&["get", "/registry/configmaps/default/", "--prefix"]),
        before
    );
    assert_eq!(
        again.ok(&["get", "/skiff/big", "--print-value-only"]),
        format!("{big}\n")
    );
    let got = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(&restored)
        .args(["get", "configmap", "cm-7", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let object = json(&String::from_utf8(got.stdout).unwrap());
    assert_eq!(
        (&object["metadata"]["name"], &object["data"]["k"]),
        (&Value::from("cm-7"), &Value::from("7"))
    );
    again.stop();
}
