//! A replicated control plane run as three local processes (issue #11, "what it must show"):
//! `skiff up --name X --initial-cluster a=…,b=…,c=…` three times, objects created through the
//! CLI (given every member's address), the leader's process killed with SIGKILL, the CLI keeps
//! working within a bound, nothing acknowledged is lost, `etcdctl endpoint status` shows a new
//! leader, and the killed member, restarted, catches up to the same objects. Before that,
//! `etcdctl member add|remove` sent to followers only are forwarded to the leader.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use skiff::core::clock::{Clock, SystemClock};

/// Time since it was started, from skiff's clock (tests bound real processes in real time).
struct Stopwatch {
    clock: SystemClock,
    start: Duration,
}

impl Stopwatch {
    fn start() -> Self {
        let clock = SystemClock::new();
        let start = clock.elapsed();
        Self { clock, start }
    }
    fn elapsed(&self) -> Duration {
        self.clock.elapsed().saturating_sub(self.start)
    }
}

/// The CLI on the shared data dir (its `config.json` lists every member).
fn skiff(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("the skiff binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A peer port `p` with `p + 1` and `p + 2` free too (the member's API ports).
fn free_base(taken: &[u16]) -> u16 {
    loop {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        if base > u16::MAX - 3 || taken.iter().any(|t| t.abs_diff(base) < 3) {
            continue;
        }
        let others: Vec<_> = (1..=2)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if others.iter().all(Result::is_ok) {
            return base;
        }
    }
}

struct Member {
    name: &'static str,
    client: String,
    child: Option<Child>,
}

/// Starts member `name`; its stderr goes to `<dir>/<name>.log`.
fn start(dir: &Path, name: &str, initial: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(dir)
        .args(["up", "--name", name, "--initial-cluster", initial])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("skiff up starts")
}

/// Waits until `addr` accepts connections; on a timeout the members' logs under `dir` are
/// part of the failure.
fn wait_listening(dir: &Path, addr: &str, within: Duration) {
    let start = Stopwatch::start();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < within,
            "{addr} did not listen within {within:?}\n{}",
            logs(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `endpoint status -w json` of every member: (endpoint, member id, leader id, applied index)
/// for those that answered.
fn status(dir: &Path, endpoints: &str) -> Vec<(String, u64, u64, u64)> {
    let out = skiff(
        dir,
        &[
            "etcdctl",
            "--endpoints",
            endpoints,
            "endpoint",
            "status",
            "-w",
            "json",
        ],
    );
    let Ok(rows) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    rows.as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let s = &row["Status"];
            (
                row["Endpoint"].as_str().unwrap_or_default().to_owned(),
                s["header"]["member_id"].as_u64().unwrap_or(0),
                s["leader"].as_u64().unwrap_or(0),
                s["raftAppliedIndex"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Waits until every answering member (at least `count`) names the same leader, which is
/// one of them; returns the leader's endpoint and id.
fn agreed_leader(dir: &Path, endpoints: &str, count: usize, within: Duration) -> (String, u64) {
    let start = Stopwatch::start();
    loop {
        let rows = status(dir, endpoints);
        if rows.len() >= count {
            let leader = rows[0].2;
            if leader != 0
                && rows.iter().all(|r| r.2 == leader)
                && let Some(row) = rows.iter().find(|r| r.1 == leader)
            {
                return (row.0.clone(), leader);
            }
        }
        assert!(
            start.elapsed() < within,
            "no agreed leader among {count} members within {within:?}: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn manifest(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  k: {name}\n"
        ),
    )
    .unwrap();
    path
}

/// Creates ConfigMap `name` through the CLI, one invocation; true when acknowledged.
fn create(dir: &Path, name: &str) -> Result<(), String> {
    let file = manifest(dir, name);
    let out = skiff(dir, &["create", "-f", file.to_str().unwrap()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out))
    }
}

/// The ConfigMaps (`configmap/NAME`) a server lists, sorted; `server` = one member only.
fn configmaps(dir: &Path, server: Option<&str>) -> Result<Vec<String>, String> {
    let mut args = vec!["get", "configmaps", "-o", "name"];
    if let Some(server) = server {
        args.extend(["--server", server]);
    }
    let out = skiff(dir, &args);
    if !out.status.success() {
        return Err(text(&out));
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("configmap/before-") || l.starts_with("configmap/after-"))
        .map(str::to_owned)
        .collect();
    names.sort();
    Ok(names)
}

fn logs(dir: &Path) -> String {
    let mut all = String::new();
    for n in ["a", "b", "c"] {
        let log = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
        let _ = writeln!(all, "--- {n}.log ---\n{log}");
    }
    all
}

/// `member list -w json` of the member at `endpoint`: (hex id, peer URL, is learner).
fn member_list(dir: &Path, endpoint: &str) -> Vec<(String, String, bool)> {
    let out = skiff(
        dir,
        &[
            "etcdctl",
            "--endpoints",
            endpoint,
            "member",
            "list",
            "-w",
            "json",
        ],
    );
    let Ok(list) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    let mut rows: Vec<(String, String, bool)> = list["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                format!("{:x}", m["ID"].as_u64().unwrap_or(0)),
                m["peerURLs"][0].as_str().unwrap_or_default().to_owned(),
                m["isLearner"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// `member add` sent to a follower alone (no other endpoint to move to) is forwarded to the
/// leader, as etcd forwards member changes; every member then lists the learner, and
/// `member remove` through the other follower takes it out again.
fn member_changes_through_followers(
    dir: &Path,
    members: &[Member],
    leader_endpoint: &str,
    taken: &[u16],
) {
    let followers: Vec<&str> = members
        .iter()
        .map(|m| m.client.as_str())
        .filter(|c| *c != leader_endpoint)
        .collect();
    let before = member_list(dir, leader_endpoint);
    assert_eq!(before.len(), 3, "{before:?}");
    let peer = format!("127.0.0.1:{}", free_base(taken));
    let out = skiff(
        dir,
        &[
            "etcdctl",
            "--endpoints",
            followers[0],
            "member",
            "add",
            "d",
            "--peer-urls",
            &peer,
        ],
    );
    assert!(out.status.success(), "{}\n{}", text(&out), logs(dir));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Member "))
        .and_then(|l| l.strip_suffix(" added to cluster"))
        .map_or_else(|| panic!("{stdout}"), |id| id.trim().to_owned());
    let mut with_learner = before.clone();
    with_learner.push((id.clone(), format!("http://{peer}"), true));
    with_learner.sort();
    for list in [&with_learner, &before] {
        if list == &before {
            let out = skiff(
                dir,
                &[
                    "etcdctl",
                    "--endpoints",
                    followers[1],
                    "member",
                    "remove",
                    &id,
                ],
            );
            assert!(out.status.success(), "{}\n{}", text(&out), logs(dir));
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("Member {id:>16} removed from cluster\n")
            );
        }
        for m in members {
            let listed = Stopwatch::start();
            while member_list(dir, &m.client) != *list {
                assert!(
                    listed.elapsed() < Duration::from_secs(10),
                    "{}: {:?}, expected {list:?}",
                    m.client,
                    member_list(dir, &m.client)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
#[allow(clippy::too_many_lines, reason = "one scenario, step by step")]
fn the_cli_survives_killing_the_leader_and_nothing_acknowledged_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut taken = Vec::new();
    let mut members = Vec::new();
    let mut initial = Vec::new();
    for name in ["a", "b", "c"] {
        let base = free_base(&taken);
        taken.push(base);
        initial.push(format!("{name}=127.0.0.1:{base}"));
        members.push(Member {
            name,
            client: format!("127.0.0.1:{}", base + 1),
            child: None,
        });
    }
    let initial = initial.join(",");
    let endpoints = members
        .iter()
        .map(|m| m.client.clone())
        .collect::<Vec<_>>()
        .join(",");
    for member in &mut members {
        member.child = Some(start(dir, member.name, &initial));
    }
    for member in &members {
        wait_listening(dir, &member.client, Duration::from_secs(60));
    }
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    for member in &members {
        assert!(config.contains(&member.client), "{config}");
    }

    // A leader is elected and every member agrees.
    let (leader_endpoint, leader_id) = agreed_leader(dir, &endpoints, 3, Duration::from_secs(30));

    member_changes_through_followers(dir, &members, &leader_endpoint, &taken);

    // Objects created through the CLI; the first waits for the leader's bootstrap (the
    // `default` namespace).
    let mut acknowledged = Vec::new();
    let start_writes = Stopwatch::start();
    for i in 1..=10 {
        let name = format!("before-{i}");
        loop {
            match create(dir, &name) {
                Ok(()) => break,
                Err(e) => assert!(
                    start_writes.elapsed() < Duration::from_secs(30),
                    "create {name}: {e}\n{}",
                    logs(dir)
                ),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        acknowledged.push(format!("configmap/{name}"));
    }

    // Every member runs the controller manager; its Lease names exactly one of them.
    let elected = Stopwatch::start();
    let holder = loop {
        let out = skiff(
            dir,
            &[
                "get",
                "lease",
                "kube-controller-manager",
                "-n",
                "kube-system",
                "-o",
                "yaml",
            ],
        );
        let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some(holder) = yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("holderIdentity: "))
        {
            break holder.trim_matches('\'').to_owned();
        }
        assert!(
            elected.elapsed() < Duration::from_secs(30),
            "no controller manager leads: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        ["a", "b", "c"]
            .iter()
            .filter(|n| holder.starts_with(&format!("{n}_")))
            .count(),
        1,
        "{holder}"
    );

    // A watch (`get -w`) connected to the leader first: it must resume on another member.
    let watch_endpoints = std::iter::once(leader_endpoint.clone())
        .chain(
            members
                .iter()
                .map(|m| m.client.clone())
                .filter(|c| *c != leader_endpoint),
        )
        .collect::<Vec<_>>()
        .join(",");
    let watch_out = dir.join("watch.out");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("--data-dir")
        .arg(dir)
        .args(["get", "configmaps", "-w", "--endpoints", &watch_endpoints])
        .stdout(std::fs::File::create(&watch_out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listed_before = Stopwatch::start();
    while !std::fs::read_to_string(&watch_out).is_ok_and(|t| t.contains("before-10 ")) {
        assert!(
            listed_before.elapsed() < Duration::from_secs(20),
            "the watch listed nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGKILL the leader's process.
    let victim = members
        .iter_mut()
        .find(|m| m.client == leader_endpoint)
        .expect("the leader is one of ours");
    let victim_name = victim.name;
    let mut child = victim.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    // The CLI (every endpoint in its config) keeps working: a create and a get succeed within
    // a bound, through the new leader.
    let killed_at = Stopwatch::start();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match create(dir, "after-kill") {
            Ok(()) => break,
            // A retried create whose first attempt committed unseen.
            Err(e) if attempts > 1 && e.contains("already exists") => break,
            Err(e) => assert!(
                killed_at.elapsed() < Duration::from_secs(30),
                "no create within 30 s of the kill: {e}\n{}",
                logs(dir)
            ),
        }
    }
    acknowledged.push("configmap/after-kill".to_owned());
    acknowledged.sort();
    let listed = configmaps(dir, None).expect("get after the kill");
    let after = killed_at.elapsed();
    assert!(after < Duration::from_secs(30), "took {after:?}");
    // Nothing acknowledged is lost (and nothing else appears).
    assert_eq!(listed, acknowledged);

    // The watch resumed on a survivor from where it was: every object once, the new one too.
    let resumed = Stopwatch::start();
    while !std::fs::read_to_string(&watch_out).is_ok_and(|t| t.contains("after-kill ")) {
        assert!(
            resumed.elapsed() < Duration::from_secs(20),
            "the watch did not resume: {:?}",
            std::fs::read_to_string(&watch_out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    watch.kill().unwrap();
    watch.wait().unwrap();
    let mut watched: Vec<String> = std::fs::read_to_string(&watch_out)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("before-") || n.starts_with("after-"))
        .map(|n| format!("configmap/{n}"))
        .collect();
    watched.sort();
    assert_eq!(watched, acknowledged);

    // endpoint status: the two survivors agree on a new leader; the killed one is reported.
    let (_, new_leader) = agreed_leader(dir, &endpoints, 2, Duration::from_secs(30));
    assert_ne!(new_leader, leader_id);
    let out = skiff(
        dir,
        &["etcdctl", "--endpoints", &endpoints, "endpoint", "status"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let simple = String::from_utf8_lossy(&out.stdout);
    assert_eq!(simple.lines().count(), 2, "{simple}");
    assert_eq!(
        simple
            .lines()
            .filter(|l| l.contains(", true, false, "))
            .count(),
        1,
        "one leader: {simple}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(&format!(
            "Failed to get the status of endpoint {leader_endpoint} ("
        )),
        "{}",
        text(&out)
    );

    // Restart the killed member: it catches up to the same objects.
    let victim = members.iter_mut().find(|m| m.name == victim_name).unwrap();
    victim.child = Some(start(dir, victim_name, &initial));
    wait_listening(dir, &victim.client, Duration::from_secs(60));
    let caught_up = Stopwatch::start();
    loop {
        if configmaps(dir, Some(&victim.client)).is_ok_and(|l| l == acknowledged) {
            break;
        }
        assert!(
            caught_up.elapsed() < Duration::from_secs(30),
            "{victim_name} did not catch up: {:?}\n{}",
            configmaps(dir, Some(&victim.client)),
            logs(dir)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // All three members agree on the new leader again.
    assert_eq!(
        agreed_leader(dir, &endpoints, 3, Duration::from_secs(30)).1,
        new_leader
    );

    for member in &mut members {
        if let Some(mut child) = member.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}
