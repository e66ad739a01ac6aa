//! A three-member replicated store under madsim (issue #11, first slice): a leader is elected,
//! 100 writes through it are acknowledged, its machine crashes (madsim `kill` plus a power loss
//! of its simulated disk), a new leader is elected within the election bound, writes go on,
//! the old member restarts and catches up, and all three members end with the same log and
//! projections at the same revision (three members, and five). The same seed in two processes
//! gives the same trace (raft.md: runs of one seed inside one process can diverge). An isolated
//! leader never acknowledges the write it takes and rejoins as a follower.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use madsim::runtime::Handle;
use madsim::task::NodeId;
use skiff_core::clock::{Clock, SystemClock};
use skiff_core::event::Actor;
use skiff_core::object::{ConfigMap, Object, ObjectMeta};
use skiff_store::disk::{PowerLoss, SimDisk};
use skiff_store::raft::check::CommittedEntries;
use skiff_store::raft::{MemberConfig, RaftTiming, Replica, Replication};
use skiff_store::{Backing, Store};
use tokio::net::TcpListener;

const RAFT_PORT: u16 = 2380;
const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 50,
    election_min_ms: 300,
    election_max_ms: 600,
};
/// Raft snapshots every this many entries (the log is purged below them, keeping as many): a
/// member restarted after a crash catches up by snapshot when it missed more than that.
const SNAPSHOT_EVERY: u64 = 10;
/// Snapshots travel in chunks this small, so an image of a few dozen objects takes many
/// frames, reassembled by the member that catches up (crashes and all).
const SNAPSHOT_CHUNK_BYTES: usize = 1024;
/// A new leader must be in place within this long after the old one's crash: one election
/// timeout to notice, one more for a split vote, and slack for the vote round trips.
const NEW_LEADER_BOUND: Duration = Duration::from_millis(3 * TIMING.election_max_ms);

type Slot = Arc<Mutex<Option<(Store, Arc<Replica>)>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Member {
    node: NodeId,
    disk: SimDisk,
    slot: Slot,
}

fn config_map(name: &str) -> Object {
    ConfigMap {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            ..ObjectMeta::named(name)
        },
        ..ConfigMap::default()
    }
    .into()
}

/// One boot of a member: open its store on its simulated disk and start Raft.
async fn boot(config: MemberConfig, disk: SimDisk, slot: Slot, errors: Arc<Mutex<Vec<String>>>) {
    drop(lock(&slot).take());
    let listener = match TcpListener::bind(("0.0.0.0", RAFT_PORT)).await {
        Ok(l) => l,
        Err(e) => {
            lock(&errors).push(format!("member {}: bind: {e}", config.id));
            return;
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    match Store::open_member(Backing::Sim(disk), clock, &config, listener).await {
        Ok(pair) => *lock(&slot) = Some(pair),
        Err(e) => lock(&errors).push(format!("member {}: open: {e}", config.id)),
    }
    std::future::pending::<()>().await;
}

fn replica(m: &Member) -> Option<Arc<Replica>> {
    lock(&m.slot).as_ref().map(|(_, r)| r.clone())
}

fn store(m: &Member) -> Store {
    lock(&m.slot)
        .as_ref()
        .map(|(s, _)| s.clone())
        .expect("member is up")
}

/// Polls every 10 ms until `f` gives a value or `limit` passes.
async fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The member every live member agrees leads, with its term.
fn agreed_leader(members: &BTreeMap<u64, Member>, skip: Option<u64>) -> Option<(u64, u64)> {
    let statuses: Vec<_> = members
        .iter()
        .filter(|(id, _)| Some(**id) != skip)
        .map(|(_, m)| replica(m).map(|r| r.status()))
        .collect::<Option<_>>()?;
    let leader = statuses.first()?.leader?;
    let leader_status = statuses.iter().find(|s| s.id == leader)?;
    statuses
        .iter()
        .all(|s| s.leader == Some(leader) && s.term == leader_status.term)
        .then_some((leader, leader_status.term))
}

/// Feeds every live member's committed log to the checker; fails on any changed entry.
fn check_committed(members: &BTreeMap<u64, Member>, check: &mut CommittedEntries) {
    for (id, m) in members {
        if let Some(r) = replica(m) {
            let violations = check.observe(*id, &r.committed_log().unwrap());
            assert!(violations.is_empty(), "{violations:#?}");
        }
    }
}

async fn write_many(store: &Store, from: u64, to: u64, trace: &mut Vec<String>) {
    let admin = Actor::new("admin");
    for i in from..=to {
        let stored = store
            .create(&admin, config_map(&format!("cm-{i}")))
            .await
            .unwrap_or_else(|e| panic!("write {i}: {e}"));
        assert_eq!(
            stored.metadata().resource_version.as_deref(),
            Some(i.to_string().as_str()),
            "write {i} acknowledged at the next revision"
        );
    }
    trace.push(format!("acknowledged {from}..={to}"));
}

/// Creates the three member nodes (each boots on its own simulated disk).
fn start_members(
    handle: &Handle,
    errors: &Arc<Mutex<Vec<String>>>,
    count: u64,
) -> BTreeMap<u64, Member> {
    let addrs: BTreeMap<u64, String> = (1..=count)
        .map(|id| (id, format!("10.0.3.{id}:{RAFT_PORT}")))
        .collect();
    let mut members = BTreeMap::new();
    for id in 1..=count {
        let config = MemberConfig {
            timing: TIMING,
            snapshot_every: SNAPSHOT_EVERY,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
            ..MemberConfig::new(id, addrs.clone())
        };
        let disk = SimDisk::new();
        let slot: Slot = Arc::default();
        let (d, s, e) = (disk.clone(), slot.clone(), errors.clone());
        let node = handle
            .create_node()
            .name(format!("member-{id}"))
            .ip(IpAddr::V4(Ipv4Addr::new(
                10,
                0,
                3,
                u8::try_from(id).unwrap(),
            )))
            .init(move || boot(config.clone(), d.clone(), s.clone(), e.clone()))
            .build();
        members.insert(
            id,
            Member {
                node: node.id(),
                disk,
                slot,
            },
        );
    }
    members
}

/// The scenario; returns its trace.
async fn scenario(count: u64) -> Vec<String> {
    let handle = Handle::current();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let members = start_members(&handle, &errors, count);
    let mut trace = Vec::new();

    // Election.
    let start = tokio::time::Instant::now();
    let (leader, term) = poll(Duration::from_secs(10), || agreed_leader(&members, None))
        .await
        .unwrap_or_else(|| panic!("no leader within 10 s; {:?}", lock(&errors)));
    trace.push(format!(
        "leader {leader} term {term} after {} ms",
        start.elapsed().as_millis()
    ));

    // 100 writes through the leader.
    let mut check = CommittedEntries::default();
    write_many(&store(&members[&leader]), 1, 100, &mut trace).await;
    check_committed(&members, &mut check);

    // The leader's machine crashes: the process dies and unsynced writes are lost.
    handle.kill(members[&leader].node);
    members[&leader].disk.power_loss(PowerLoss::DropUnsynced);
    drop(lock(&members[&leader].slot).take());
    let crashed_at = tokio::time::Instant::now();
    let (new_leader, new_term) = poll(NEW_LEADER_BOUND, || {
        agreed_leader(&members, Some(leader)).filter(|(_, t)| *t > term)
    })
    .await
    .unwrap_or_else(|| {
        let statuses: Vec<_> = members
            .iter()
            .filter(|(id, _)| **id != leader)
            .filter_map(|(_, m)| replica(m).map(|r| r.status()))
            .collect();
        panic!("no new leader within {NEW_LEADER_BOUND:?}: {statuses:#?}")
    });
    assert_ne!(new_leader, leader);
    trace.push(format!(
        "crashed {leader}; leader {new_leader} term {new_term} after {} ms",
        crashed_at.elapsed().as_millis()
    ));

    // Writes go on through the new leader.
    write_many(&store(&members[&new_leader]), 101, 150, &mut trace).await;
    check_committed(&members, &mut check);

    // The old member restarts and catches up: it missed 50 entries and the leader keeps only
    // the last 10 below its snapshot, so by snapshot.
    tokio::time::sleep(Duration::from_millis(10)).await;
    handle.restart(members[&leader].node);
    // (The leader's metrics can trail its own apply by a moment: compare with its store.)
    let caught_up = poll(Duration::from_secs(10), || {
        let applied: Vec<_> = members
            .values()
            .map(|m| replica(m).map(|r| r.status().applied_index))
            .collect();
        let revisions: Vec<_> = members
            .values()
            .map(|m| {
                lock(&m.slot)
                    .as_ref()
                    .map(|(s, _)| s.status().unwrap().revision.0)
            })
            .collect();
        (revisions.iter().all(|r| *r == Some(150)) && applied.windows(2).all(|w| w[0] == w[1]))
            .then_some(())
    })
    .await;
    assert!(
        caught_up.is_some(),
        "members did not all apply revision 150: {:?}; {:?}",
        members
            .values()
            .map(|m| replica(m).map(|r| r.status()))
            .collect::<Vec<_>>(),
        lock(&errors)
    );

    check_committed(&members, &mut check);
    trace.push(format!("{} committed entries checked", check.len()));

    // Every member: the same revision, log and projections.
    let reference = store(&members[&new_leader]).status().unwrap();
    assert_eq!(
        (reference.revision.0, reference.events, reference.keys),
        (150, 150, 150)
    );
    for (id, m) in &members {
        let s = store(m);
        assert_eq!(s.status().unwrap(), reference, "member {id}");
        assert_eq!(
            s.state_hash().unwrap(),
            s.rebuild_hash().unwrap(),
            "member {id}"
        );
        let status = replica(m).unwrap().status();
        trace.push(format!(
            "member {id}: leader {:?} term {} applied {:?} snapshot {:?} purged {:?} revision {} hash {:016x}",
            status.leader,
            status.term,
            status.applied_index,
            status.snapshot_index,
            status.purged_index,
            reference.revision.0,
            reference.hash
        ));
    }
    assert_eq!(*lock(&errors), Vec::<String>::new());
    trace
}

fn run_seed(seed: u64, count: u64) -> Vec<String> {
    std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(scenario(count))
    })
    .join()
    .expect("the simulation panicked")
}

#[test]
fn leader_crash_elects_a_new_leader_and_the_old_member_catches_up() {
    let trace = run_seed(1, 3);
    assert_eq!(trace.len(), 8, "{trace:#?}");
}

#[test]
fn five_members_elect_a_new_leader_after_a_crash_and_end_equal() {
    let trace = run_seed(2, 5);
    assert_eq!(trace.len(), 10, "{trace:#?}");
}

/// Runs only as the child of [`same_seed_gives_the_same_trace_in_two_processes`].
#[test]
fn trace_child() {
    let Ok(seed) = std::env::var("SKIFF_RAFT_TRACE_SEED") else {
        return;
    };
    let trace = run_seed(seed.parse().expect("a seed"), 3);
    for line in trace {
        println!("TRACE {line}");
    }
}

fn trace_in_a_child_process(seed: u64) -> Vec<String> {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "trace_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SKIFF_RAFT_TRACE_SEED", seed.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // libtest prints "test trace_child ... " without a newline before the test's output.
        .filter_map(|l| l.split_once("TRACE ").map(|(_, rest)| rest.to_owned()))
        .collect()
}

#[test]
fn same_seed_gives_the_same_trace_in_two_processes() {
    let a = trace_in_a_child_process(7);
    let b = trace_in_a_child_process(7);
    assert_eq!(a.len(), 8, "{a:#?}");
    assert_eq!(a, b);
}

/// The leader is cut off from the network (`clog_node`): a write it takes meanwhile is never
/// acknowledged, the majority elects a new leader and goes on, and once the network heals the
/// old leader follows, its uncommitted entry is replaced, and every member ends equal.
async fn isolated_leader() -> Vec<String> {
    let handle = Handle::current();
    let net = madsim::net::NetSim::current();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let members = start_members(&handle, &errors, 3);
    let mut trace = Vec::new();
    let mut check = CommittedEntries::default();
    let (leader, term) = poll(Duration::from_secs(10), || agreed_leader(&members, None))
        .await
        .expect("a leader");
    write_many(&store(&members[&leader]), 1, 20, &mut trace).await;
    check_committed(&members, &mut check);

    net.clog_node(members[&leader].node);
    let isolated = store(&members[&leader]);
    let stranded = tokio::spawn(async move {
        isolated
            .create(&Actor::new("admin"), config_map("stranded"))
            .await
    });
    let (new_leader, new_term) = poll(NEW_LEADER_BOUND, || {
        agreed_leader(&members, Some(leader)).filter(|(_, t)| *t > term)
    })
    .await
    .expect("a new leader on the majority side");
    trace.push(format!(
        "isolated {leader}; leader {new_leader} term {new_term}"
    ));
    write_many(&store(&members[&new_leader]), 21, 40, &mut trace).await;

    net.unclog_node(members[&leader].node);
    let healed_at = tokio::time::Instant::now();
    let rejoined = poll(Duration::from_secs(30), || {
        members
            .values()
            .all(|m| {
                replica(m).is_some_and(|r| {
                    let s = r.status();
                    let lead = replica(&members[&new_leader]).unwrap().status();
                    s.applied_index == lead.applied_index && s.leader == Some(new_leader)
                })
            })
            .then_some(())
    })
    .await;
    let statuses: Vec<_> = members
        .values()
        .filter_map(|m| replica(m).map(|r| r.status()))
        .collect();
    assert!(
        rejoined.is_some(),
        "the old leader did not rejoin: leader {leader} new leader {new_leader}: {statuses:#?}"
    );
    trace.push(format!(
        "rejoined after {} ms",
        healed_at.elapsed().as_millis()
    ));
    check_committed(&members, &mut check);
    let stranded = tokio::time::timeout(Duration::from_secs(10), stranded)
        .await
        .expect("the stranded write is answered once the old leader learns the new term")
        .expect("the write task");
    assert!(
        stranded.is_err(),
        "a write taken by an isolated leader was acknowledged: {stranded:?}"
    );
    trace.push(format!("stranded write: {}", stranded.unwrap_err()));
    let reference = store(&members[&new_leader]).status().unwrap();
    assert_eq!(reference.revision.0, 40);
    for (id, m) in &members {
        assert_eq!(store(m).status().unwrap(), reference, "member {id}");
        assert!(
            store(m)
                .get("/registry/configmaps/default/stranded")
                .is_err()
        );
    }
    assert_eq!(*lock(&errors), Vec::<String>::new());
    trace
}

#[test]
fn an_isolated_leader_never_acknowledges_and_rejoins_as_a_follower() {
    let seed = 3;
    let trace = std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(isolated_leader())
    })
    .join()
    .expect("the simulation panicked");
    assert_eq!(trace.len(), 5, "{trace:#?}");
}

/// `Store::read_barrier` on a member, run on that member's node (its network), as the API
/// server of that member would.
async fn read_barrier(m: &Member) -> Result<(), skiff_store::StoreError> {
    let s = store(m);
    Handle::current()
        .get_node(m.node)
        .expect("the member's node")
        .spawn(async move { s.read_barrier().await })
        .await
        .expect("the barrier task")
}

/// A follower cut off from the network serves a stale serializable read (the planted stale
/// read a linearizability checker must catch); its `read_barrier` refuses instead, and so does
/// a write forwarded through it. Once the network heals, a read after the barrier sees the
/// write acknowledged on the leader, and a write through the follower is forwarded, applied
/// there before it is acknowledged, and visible through the leader.
async fn partitioned_follower() -> Vec<String> {
    let handle = Handle::current();
    let net = madsim::net::NetSim::current();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let members = start_members(&handle, &errors, 3);
    let mut trace = Vec::new();
    let (leader, _) = poll(Duration::from_secs(10), || agreed_leader(&members, None))
        .await
        .expect("a leader");
    write_many(&store(&members[&leader]), 1, 10, &mut trace).await;
    let follower = *members.keys().find(|id| **id != leader).unwrap();
    let lagging = store(&members[&follower]);
    read_barrier(&members[&follower]).await.unwrap();
    assert_eq!(lagging.status().unwrap().revision.0, 10);

    net.clog_node(members[&follower].node);
    let admin = Actor::new("admin");
    store(&members[&leader])
        .create(&admin, config_map("after-the-partition"))
        .await
        .unwrap();
    let key = "/registry/configmaps/default/after-the-partition";
    // Serializable: stale.
    assert!(
        lagging.get(key).is_err(),
        "the partitioned follower saw the write"
    );
    // Linearizable: refused, never stale.
    let barrier = read_barrier(&members[&follower]).await;
    trace.push(format!("barrier while partitioned: {barrier:?}"));
    assert!(barrier.is_err(), "{barrier:?}");
    assert!(lagging.get(key).is_err());
    let forwarded = lagging.create(&admin, config_map("cut-off")).await;
    trace.push(format!("write while partitioned: {forwarded:?}"));
    assert!(forwarded.is_err(), "{forwarded:?}");

    net.unclog_node(members[&follower].node);
    let healed = poll(Duration::from_secs(30), || {
        replica(&members[&follower])
            .is_some_and(|r| r.leader() == Some(leader))
            .then_some(())
    })
    .await;
    assert!(healed.is_some(), "the follower did not rejoin");
    read_barrier(&members[&follower]).await.unwrap();
    let (_, entry) = lagging.get(key).unwrap();
    assert_eq!(entry.stored.mod_revision.0, 11);
    let through_follower = lagging
        .create(&admin, config_map("through-the-follower"))
        .await
        .unwrap();
    let revision = through_follower.metadata().resource_version.clone();
    trace.push(format!("forwarded write at {revision:?}"));
    let key = "/registry/configmaps/default/through-the-follower";
    assert!(lagging.get(key).is_ok());
    let leader_store = store(&members[&leader]);
    read_barrier(&members[&leader]).await.unwrap();
    assert!(leader_store.get(key).is_ok());
    assert_eq!(*lock(&errors), Vec::<String>::new());
    trace
}

#[test]
fn a_partitioned_follower_is_stale_without_the_read_barrier_and_never_with_it() {
    let seed = 5;
    let trace = std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(partitioned_follower())
    })
    .join()
    .expect("the simulation panicked");
    assert_eq!(trace.len(), 4, "{trace:#?}");
}

/// Starts a member that joins the existing cluster (not yet added) on its own node.
fn start_joining(handle: &Handle, errors: &Arc<Mutex<Vec<String>>>, id: u64) -> Member {
    let config = MemberConfig {
        timing: TIMING,
        join: true,
        snapshot_every: SNAPSHOT_EVERY,
        snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
        ..MemberConfig::new(id, BTreeMap::new())
    };
    let disk = SimDisk::new();
    let slot: Slot = Arc::default();
    let (d, s, e) = (disk.clone(), slot.clone(), errors.clone());
    let node = handle
        .create_node()
        .name(format!("member-{id}"))
        .ip(IpAddr::V4(Ipv4Addr::new(
            10,
            0,
            3,
            u8::try_from(id).unwrap(),
        )))
        .init(move || boot(config.clone(), d.clone(), s.clone(), e.clone()))
        .build();
    Member {
        node: node.id(),
        disk,
        slot,
    }
}

/// Three members; a fourth joins as a learner, is promoted (through a follower), and the
/// old leader removes itself; writes keep working throughout and the member lists are exact at every step.
async fn membership_changes() -> Vec<String> {
    let handle = Handle::current();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut members = start_members(&handle, &errors, 3);
    let mut trace = Vec::new();
    let (leader, _) = poll(Duration::from_secs(10), || agreed_leader(&members, None))
        .await
        .expect("a leader");
    write_many(&store(&members[&leader]), 1, 10, &mut trace).await;
    members.insert(4, start_joining(&handle, &errors, 4));
    poll(Duration::from_secs(5), || replica(&members[&4]))
        .await
        .expect("member 4 up");
    let lead = replica(&members[&leader]).unwrap();
    let addr = |id: u64| format!("10.0.3.{id}:{RAFT_PORT}");
    let list = |ids: &[(u64, bool)]| -> Vec<skiff_store::raft::Member> {
        ids.iter()
            .map(|(id, voter)| skiff_store::raft::Member {
                id: *id,
                addr: addr(*id),
                voter: *voter,
            })
            .collect()
    };
    lead.add_learner(4, addr(4)).await.unwrap();
    assert_eq!(
        lead.members(),
        list(&[(1, true), (2, true), (3, true), (4, false)])
    );
    write_many(&store(&members[&4]), 11, 20, &mut trace).await;
    // Promoted through a follower (on its own node, where its connections start): forwarded
    // to the leader, which makes the change.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let on_follower = replica(&members[&follower]).unwrap();
    handle
        .get_node(members[&follower].node)
        .expect("the follower's node")
        .spawn(async move { on_follower.promote(4).await })
        .await
        .expect("the promote task")
        .unwrap();
    assert_eq!(
        lead.members(),
        list(&[(1, true), (2, true), (3, true), (4, true)])
    );
    write_many(&store(&members[&leader]), 21, 30, &mut trace).await;
    lead.remove(leader).await.unwrap();
    let rest: Vec<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let (new_leader, term) = poll(NEW_LEADER_BOUND, || {
        agreed_leader(&members, Some(leader)).filter(|(l, _)| *l != leader)
    })
    .await
    .expect("a new leader among the remaining members");
    trace.push(format!("removed {leader}; leader {new_leader} term {term}"));
    let expected: Vec<(u64, bool)> = rest.iter().map(|id| (*id, true)).collect();
    for id in &rest {
        assert_eq!(
            replica(&members[id]).unwrap().members(),
            list(&expected),
            "member {id}"
        );
    }
    let other = *rest.iter().find(|id| **id != new_leader).unwrap();
    write_many(&store(&members[&other]), 31, 40, &mut trace).await;
    read_barrier(&members[&new_leader]).await.unwrap();
    let reference = store(&members[&new_leader]).status().unwrap();
    assert_eq!(reference.revision.0, 40);
    for id in &rest {
        read_barrier(&members[id]).await.unwrap();
        assert_eq!(
            store(&members[id]).status().unwrap(),
            reference,
            "member {id}"
        );
    }
    assert_eq!(*lock(&errors), Vec::<String>::new());
    trace
}

#[test]
fn a_learner_joins_is_promoted_and_the_old_leader_leaves_while_writes_go_on() {
    let seed = 11;
    let trace = std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(membership_changes())
    })
    .join()
    .expect("the simulation panicked");
    assert_eq!(trace.len(), 5, "{trace:#?}");
}
