//! Membership changes, follower reads and snapshots of a replicated store on loopback TCP
//! (issue #11): a learner joins, is promoted, the old leader is removed, and writes keep
//! working throughout; a follower read after `read_barrier` sees a write acknowledged on the
//! leader just before; a learner added after the log was purged catches up by snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::ManualClock;
use skiff_core::event::Actor;
use skiff_core::object::{ConfigMap, Object, ObjectMeta};
use skiff_store::raft::{
    Member, MemberConfig, RaftTiming, Replica, Replication, SNAPSHOT_CHUNK_BYTES,
    SNAPSHOT_CHUNK_BYTES_MAX,
};
use skiff_store::{Backing, ReadError, Store, StoreError};
use tokio::net::TcpListener;

const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 50,
    election_min_ms: 300,
    election_max_ms: 600,
};

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

fn key(name: &str) -> String {
    format!("/registry/configmaps/default/{name}")
}

type Node = (Store, Arc<Replica>);

struct Cluster {
    nodes: BTreeMap<u64, Node>,
    addrs: BTreeMap<u64, String>,
    snapshot_every: u64,
    /// Every member's largest snapshot chunk.
    chunk: usize,
}

impl Cluster {
    /// Opens `count` members of a new cluster on loopback ports, in memory.
    async fn start(count: u64, snapshot_every: u64) -> Cluster {
        Self::start_chunked(count, snapshot_every, SNAPSHOT_CHUNK_BYTES).await
    }

    /// As [`Cluster::start`], snapshots sent in chunks of at most `chunk` bytes.
    async fn start_chunked(count: u64, snapshot_every: u64, chunk: usize) -> Cluster {
        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        for id in 1..=count {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.insert(id, listener.local_addr().unwrap().to_string());
            listeners.push((id, listener));
        }
        let mut nodes = BTreeMap::new();
        for (id, listener) in listeners {
            let member = MemberConfig {
                timing: TIMING,
                snapshot_every,
                snapshot_chunk_bytes: chunk,
                ..MemberConfig::new(id, addrs.clone())
            };
            let node = Store::open_member(Backing::Memory, clock(), &member, listener)
                .await
                .unwrap();
            nodes.insert(id, node);
        }
        Cluster {
            nodes,
            addrs,
            snapshot_every,
            chunk,
        }
    }

    /// Opens a member that joins the existing cluster (not yet added); returns its address.
    async fn open_joining(&mut self, id: u64) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let member = MemberConfig {
            timing: TIMING,
            join: true,
            snapshot_every: self.snapshot_every,
            snapshot_chunk_bytes: self.chunk,
            ..MemberConfig::new(id, BTreeMap::new())
        };
        let node = Store::open_member(Backing::Memory, clock(), &member, listener)
            .await
            .unwrap();
        self.nodes.insert(id, node);
        self.addrs.insert(id, addr.clone());
        addr
    }

    /// Waits until the members in `among` agree on one leader among them; returns it.
    async fn leader(&self, among: &[u64]) -> u64 {
        for _ in 0..200 {
            let leaders: Vec<Option<u64>> =
                among.iter().map(|id| self.nodes[id].1.leader()).collect();
            if let Some(Some(l)) = leaders.first()
                && among.contains(l)
                && leaders.iter().all(|x| *x == Some(*l))
                && self.nodes[l].1.is_leader()
            {
                return *l;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no agreed leader among {among:?}");
    }

    fn store(&self, id: u64) -> &Store {
        &self.nodes[&id].0
    }

    fn replica(&self, id: u64) -> &Arc<Replica> {
        &self.nodes[&id].1
    }

    /// The exact member list `ids` (voter flag each) with their addresses.
    fn expected(&self, ids: &[(u64, bool)]) -> Vec<Member> {
        ids.iter()
            .map(|(id, voter)| Member {
                id: *id,
                addr: self.addrs[id].clone(),
                voter: *voter,
            })
            .collect()
    }

    async fn shutdown(&self) {
        for (_, replica) in self.nodes.values() {
            replica.shutdown().await;
        }
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_700_000_000))
}

/// Writes `names` through `store`, each acknowledged.
async fn write_all(store: &Store, names: impl IntoIterator<Item = String>) {
    let admin = Actor::new("admin");
    for name in names {
        if let Err(e) = store.create(&admin, config_map(&name)).await {
            panic!("write {name}: {e:?}");
        }
    }
}

/// Waits until every member in `ids` has applied the same index as `leader`, then asserts
/// their stores are equal (status, state hash, rebuilt hash).
async fn assert_converged(cluster: &Cluster, leader: u64, ids: &[u64]) {
    let applied = cluster.replica(leader).status().applied_index;
    let expected = cluster.store(leader).status().unwrap();
    for id in ids {
        let replica = cluster.replica(*id);
        assert!(
            replica
                .wait_for(Duration::from_secs(10), |s| s.applied_index >= applied)
                .await,
            "member {id} did not apply up to {applied:?}"
        );
        let store = cluster.store(*id);
        // The leader's applied index and its status are two reads: the leader may apply one
        // more entry between them, so wait for this member's head to reach the status's.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.status().unwrap().revision < expected.revision
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.status().unwrap(), expected, "member {id}");
        assert_eq!(
            store.state_hash().unwrap(),
            store.rebuild_hash().unwrap(),
            "member {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_joins_is_promoted_and_the_old_leader_is_removed() {
    let mut cluster = Cluster::start(3, 0).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    write_all(cluster.store(leader), (1..=10).map(|i| format!("a-{i}"))).await;
    assert_eq!(
        cluster.replica(leader).members(),
        cluster.expected(&[(1, true), (2, true), (3, true)])
    );

    // Only a learner can be promoted; only a member can be removed.
    let not_learner = cluster.replica(leader).promote(follower).await;
    assert_eq!(
        not_learner.map_err(|e| e.to_string()),
        Err(format!(
            "membership change refused: member {follower} is not a learner of the cluster"
        ))
    );
    let unknown = cluster.replica(leader).remove(9).await;
    assert_eq!(
        unknown.map_err(|e| e.to_string()),
        Err("membership change refused: member 9 is not in the cluster".to_owned())
    );

    // A fourth member joins as a learner and catches up from the log.
    let addr = cluster.open_joining(4).await;
    cluster
        .replica(leader)
        .add_learner(4, addr.clone())
        .await
        .unwrap();
    assert_eq!(
        cluster.replica(leader).members(),
        cluster.expected(&[(1, true), (2, true), (3, true), (4, false)])
    );
    write_all(cluster.store(follower), (1..=10).map(|i| format!("b-{i}"))).await;
    assert_converged(&cluster, leader, &[1, 2, 3, 4]).await;
    // A learner forwards writes like any member.
    write_all(cluster.store(4), ["from-the-learner".to_owned()]).await;
    assert_eq!(cluster.store(4).status().unwrap().revision.0, 21);

    // Promoted, it votes.
    cluster.replica(leader).promote(4).await.unwrap();
    assert_eq!(
        cluster.replica(leader).members(),
        cluster.expected(&[(1, true), (2, true), (3, true), (4, true)])
    );
    write_all(cluster.store(leader), (1..=10).map(|i| format!("c-{i}"))).await;

    // The old leader removes itself; the other three elect a new leader and go on.
    cluster.replica(leader).remove(leader).await.unwrap();
    let rest: Vec<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let new_leader = cluster.leader(&rest).await;
    let expected: Vec<(u64, bool)> = rest.iter().map(|id| (*id, true)).collect();
    for id in &rest {
        assert!(
            cluster
                .replica(*id)
                .wait_for(Duration::from_secs(5), |s| s.voters
                    == rest.iter().copied().collect())
                .await
        );
        assert_eq!(
            cluster.replica(*id).members(),
            cluster.expected(&expected),
            "member {id}"
        );
    }
    let other = *rest.iter().find(|id| **id != new_leader).unwrap();
    write_all(cluster.store(new_leader), (1..=5).map(|i| format!("d-{i}"))).await;
    write_all(cluster.store(other), (6..=10).map(|i| format!("d-{i}"))).await;
    assert_converged(&cluster, new_leader, &rest).await;
    assert_eq!(cluster.store(new_leader).status().unwrap().revision.0, 41);
    cluster.shutdown().await;
}

/// Waits until every member in `on` shows exactly `expected` as its membership.
async fn assert_members_everywhere(cluster: &Cluster, on: &[u64], expected: &[(u64, bool)]) {
    let expected = cluster.expected(expected);
    for id in on {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while cluster.replica(*id).members() != expected && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(cluster.replica(*id).members(), expected, "member {id}");
    }
}

/// etcd forwards `member add|promote|remove` from a follower to its leader; so does a
/// member here, over the Raft port, answering with the leader's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_sent_to_a_follower_are_made_by_the_leader() {
    let mut cluster = Cluster::start(3, 0).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
    let (f1, f2) = (followers[0], followers[1]);
    write_all(cluster.store(leader), (1..=5).map(|i| format!("a-{i}"))).await;

    // Added through a follower: the leader adds the learner, which catches up.
    let addr = cluster.open_joining(4).await;
    cluster.replica(f1).add_learner(4, addr).await.unwrap();
    assert_members_everywhere(
        &cluster,
        &[1, 2, 3, 4],
        &[(1, true), (2, true), (3, true), (4, false)],
    )
    .await;
    assert_converged(&cluster, leader, &[1, 2, 3, 4]).await;

    // The leader's refusal comes back through the follower, word for word.
    let refused = cluster.replica(f2).promote(f1).await;
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err(format!(
            "membership change refused: member {f1} is not a learner of the cluster"
        ))
    );
    let unknown = cluster.replica(f2).remove(9).await;
    assert_eq!(
        unknown.map_err(|e| e.to_string()),
        Err("membership change refused: member 9 is not in the cluster".to_owned())
    );

    // Promoted and removed through followers.
    cluster.replica(f2).promote(4).await.unwrap();
    assert_members_everywhere(
        &cluster,
        &[1, 2, 3, 4],
        &[(1, true), (2, true), (3, true), (4, true)],
    )
    .await;
    cluster.replica(f1).remove(4).await.unwrap();
    assert_members_everywhere(&cluster, &[1, 2, 3], &[(1, true), (2, true), (3, true)]).await;
    assert_eq!(cluster.leader(&[1, 2, 3]).await, leader);
    write_all(cluster.store(f2), ["after-the-changes".to_owned()]).await;
    assert_converged(&cluster, leader, &[1, 2, 3]).await;

    // The leader stops (its Raft port closes) and so does the other follower, so no new
    // leader can be elected: f2 still names the old leader until its election timeout, and
    // answers at once that the leader cannot be reached (the change certainly not made).
    cluster.replica(leader).shutdown().await;
    cluster.replica(f1).shutdown().await;
    let unreachable = cluster.replica(f2).remove(f1).await;
    let prefix = format!(
        "replication unavailable: the leader (member {leader} at {}) is unreachable: ",
        cluster.addrs[&leader]
    );
    match &unreachable {
        Err(e @ StoreError::Unavailable(_)) => {
            assert!(e.to_string().starts_with(&prefix), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cluster.replica(f2).members(),
        cluster.expected(&[(1, true), (2, true), (3, true)])
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_that_has_not_caught_up_is_not_promoted() {
    let mut cluster = Cluster::start(3, 0).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    write_all(cluster.store(leader), (1..=5).map(|i| format!("a-{i}"))).await;
    // A learner at an address where nothing listens: added, but it never catches up.
    let nobody = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = nobody.local_addr().unwrap().to_string();
    drop(nobody);
    cluster
        .replica(leader)
        .add_learner(4, addr.clone())
        .await
        .unwrap();
    cluster.addrs.insert(4, addr);
    assert_members_everywhere(
        &cluster,
        &[1, 2, 3],
        &[(1, true), (2, true), (3, true), (4, false)],
    )
    .await;
    // etcd's ErrLearnerNotReady, through a follower too; the membership is unchanged.
    let last = cluster.replica(leader).status().last_log_index.unwrap();
    let refused = cluster.replica(follower).promote(4).await;
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err(format!(
            "membership change refused: can only promote a learner member which is in sync \
             with leader (member 4 holds the log up to index 0 of the leader's {last})"
        ))
    );
    assert_eq!(
        cluster.replica(leader).members(),
        cluster.expected(&[(1, true), (2, true), (3, true), (4, false)])
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_read_after_read_barrier_sees_the_write_acknowledged_just_before() {
    let cluster = Cluster::start(3, 0).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
    for i in 1..=20 {
        let name = format!("r-{i}");
        write_all(cluster.store(leader), [name.clone()]).await;
        for follower in &followers {
            let store = cluster.store(*follower);
            store.read_barrier().await.unwrap();
            let (_, entry) = store.get(&key(&name)).unwrap();
            assert_eq!(entry.stored.mod_revision.0, i, "member {follower}");
        }
        // The leader's barrier is a quorum round; its own reads see the write too.
        cluster.store(leader).read_barrier().await.unwrap();
        assert!(cluster.store(leader).get(&key(&name)).is_ok());
    }

    // A follower that stopped replicating serves stale serializable reads; its barrier fails
    // rather than let a linearizable read be stale.
    let lagging = followers[0];
    cluster.replica(lagging).shutdown().await;
    write_all(cluster.store(leader), ["after-the-lag".to_owned()]).await;
    let stale = cluster.store(lagging).get(&key("after-the-lag"));
    assert!(
        matches!(stale, Err(ReadError::NotFound { .. })),
        "{stale:?}"
    );
    let barrier = cluster.store(lagging).read_barrier().await;
    assert!(
        matches!(barrier, Err(StoreError::Unavailable(_))),
        "{barrier:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_store_read_barrier_returns_at_once() {
    let store = Store::open(Backing::Memory, clock()).unwrap();
    store.read_barrier().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_added_after_the_log_was_purged_catches_up_by_snapshot() {
    learner_catches_up_by_snapshot(SNAPSHOT_CHUNK_BYTES).await;
}

/// The image of 100 ConfigMaps is tens of KiB: in 1 KiB chunks it travels in dozens of
/// frames, reassembled by the learner before it installs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_one_chunk_reaches_the_learner_in_chunks() {
    learner_catches_up_by_snapshot(1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_chunk_size_out_of_bounds_is_refused() {
    for chunk in [0, SNAPSHOT_CHUNK_BYTES_MAX + 1] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let member = MemberConfig {
            snapshot_chunk_bytes: chunk,
            ..MemberConfig::new(1, BTreeMap::from([(1, addr)]))
        };
        let refused = Store::open_member(Backing::Memory, clock(), &member, listener).await;
        assert_eq!(
            refused.err().map(|e| e.to_string()),
            Some(format!(
                "database error: raft configuration: a snapshot chunk of {chunk} bytes is not between 1 and {SNAPSHOT_CHUNK_BYTES_MAX}"
            ))
        );
    }
}

async fn learner_catches_up_by_snapshot(chunk: usize) {
    let mut cluster = Cluster::start_chunked(3, 20, chunk).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    write_all(cluster.store(leader), (1..=100).map(|i| format!("s-{i}"))).await;
    // Snapshots every 20 entries; the log below the last but one is purged.
    let status = cluster.replica(leader).status();
    assert!(
        cluster
            .replica(leader)
            .wait_for(Duration::from_secs(5), |s| s.purged_index.is_some())
            .await,
        "nothing purged: {status:?}"
    );
    let purged = cluster.replica(leader).status().purged_index.unwrap();
    assert!(purged >= 20, "purged only up to {purged}");

    // The new member cannot get entry 1 from anyone's log: it must install a snapshot.
    let addr = cluster.open_joining(4).await;
    cluster.replica(leader).add_learner(4, addr).await.unwrap();
    write_all(cluster.store(leader), ["after-the-join".to_owned()]).await;
    assert_converged(&cluster, leader, &[1, 2, 3, 4]).await;
    let learner = cluster.replica(4).status();
    assert!(
        learner.snapshot_index.is_some_and(|i| i >= purged),
        "learner did not install a snapshot covering {purged}: {learner:?}"
    );
    // The image the learner installed (reassembled from chunks) is many chunks long.
    let image_bytes = cluster.replica(4).snapshot_bytes().unwrap();
    if chunk < SNAPSHOT_CHUNK_BYTES {
        assert!(
            image_bytes > 8 * chunk,
            "an image of {image_bytes} bytes is not many chunks of {chunk}"
        );
    }
    let learner_store = cluster.store(4);
    assert_eq!(learner_store.status().unwrap().revision.0, 101);
    let (_, entry) = learner_store.get(&key("s-1")).unwrap();
    assert_eq!(entry.stored.mod_revision.0, 1);
    // The learner's history is the leader's: the same events from the first revision.
    assert_eq!(
        learner_store
            .events(
                skiff_core::event::Revision(1),
                skiff_core::event::Revision(101)
            )
            .unwrap(),
        cluster
            .store(leader)
            .events(
                skiff_core::event::Revision(1),
                skiff_core::event::Revision(101)
            )
            .unwrap()
    );
    // Writes through the learner still work after the install.
    write_all(learner_store, ["via-the-learner".to_owned()]).await;
    assert_eq!(learner_store.status().unwrap().revision.0, 102);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_api_server_reads_linearizably_and_refuses_when_it_cannot_confirm() {
    use skiff_core::client::{Client, ClientError, ListParams};
    use skiff_core::object::info;
    use skiff_core::status::Reason;
    use skiff_store::apiserver::{ApiServer, LocalClient};

    let cluster = Cluster::start(3, 0).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let api = |id: u64| {
        let server = ApiServer::new(cluster.store(id).clone(), clock(), 7);
        LocalClient::new(Arc::new(server), "admin")
    };
    let (on_leader, on_follower) = (api(leader), api(follower));
    let namespace = skiff_core::object::Namespace {
        metadata: ObjectMeta::named("default"),
        ..Default::default()
    };
    on_leader.create(None, namespace.into()).await.unwrap();
    // Every write acknowledged by the leader is seen by the follower's next get and list.
    for i in 1..=10 {
        let name = format!("lin-{i}");
        on_leader.create(None, config_map(&name)).await.unwrap();
        let got = on_follower
            .get(&info::CONFIG_MAP, "default", &name)
            .await
            .unwrap();
        assert_eq!(got.metadata().name.as_deref(), Some(name.as_str()));
        let listed = on_follower
            .list(&info::CONFIG_MAP, Some("default"), ListParams::default())
            .await
            .unwrap();
        assert_eq!(listed.items.len(), i);
    }

    // Cut off, the follower refuses a default (most recent) read rather than answer stale;
    // resourceVersion "0" (any) is served from what it has.
    cluster.replica(follower).shutdown().await;
    on_leader
        .create(None, config_map("after-the-cut"))
        .await
        .unwrap();
    let refused = on_follower
        .get(&info::CONFIG_MAP, "default", "after-the-cut")
        .await;
    match refused {
        Err(ClientError::Status(status)) => {
            assert_eq!(status.reason, Reason::InternalError);
            assert!(
                status.message.starts_with(&format!(
                    "replication unavailable: member {follower}: raft stopped"
                )),
                "{}",
                status.message
            );
        }
        other => panic!("{other:?}"),
    }
    let any = on_follower
        .list(
            &info::CONFIG_MAP,
            Some("default"),
            ListParams {
                resource_version: Some("0".into()),
                ..ListParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(any.items.len(), 10);
    // etcdctl's range through the follower's server is linearizable too (etcd's default).
    let handler = skiff_store::apiserver::ApiHandler::new(
        Arc::new(ApiServer::new(cluster.store(follower).clone(), clock(), 7)),
        skiff_store::apiserver::authn::Authenticator::new(7),
    );
    let range = skiff_store::wire::Handler::call(
        &handler,
        &skiff_store::apiserver::authn::UserInfo::admin(),
        skiff_store::wire::Request::EtcdRange {
            key: "/registry/configmaps/default/after-the-cut".into(),
            prefix: false,
            limit: 0,
            revision: 0,
            keys_only: true,
        },
    )
    .await;
    match range {
        Err(status) => assert!(
            status.message.starts_with(&format!(
                "replication unavailable: member {follower}: raft stopped"
            )),
            "{}",
            status.message
        ),
        Ok(other) => panic!("a stale range was answered: {other:?}"),
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_objects_replicate_when_every_member_knows_the_kind() {
    use skiff_core::object::{DynamicKind, DynamicObject, KindRegistry};

    let kind = DynamicKind::new("stable.example.com", "v1", "CronTab", "crontabs").define();
    let mut kinds = KindRegistry::builtin();
    kinds.register(kind).unwrap();
    let mut listeners = Vec::new();
    let mut addrs = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.insert(id, listener.local_addr().unwrap().to_string());
        listeners.push((id, listener));
    }
    let mut nodes = BTreeMap::new();
    for (id, listener) in listeners {
        let member = MemberConfig {
            timing: TIMING,
            ..MemberConfig::new(id, addrs.clone())
        };
        let node =
            Store::open_member_with_kinds(Backing::Memory, clock(), &member, listener, &kinds)
                .await
                .unwrap();
        nodes.insert(id, node);
    }
    let cluster = Cluster {
        nodes,
        addrs,
        snapshot_every: 0,
        chunk: SNAPSHOT_CHUNK_BYTES,
    };
    let leader = cluster.leader(&[1, 2, 3]).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    // Written through a follower: forwarded, applied by every member's state machine.
    let mut tab = DynamicObject::new(kind);
    tab.metadata = ObjectMeta {
        namespace: Some("default".into()),
        ..ObjectMeta::named("nightly")
    };
    cluster
        .store(follower)
        .create(&Actor::new("admin"), tab.into())
        .await
        .unwrap();
    assert_converged(&cluster, leader, &[1, 2, 3]).await;
    for id in [1, 2, 3] {
        let (_, entry) = cluster
            .store(id)
            .get("/registry/stable.example.com/crontabs/default/nightly")
            .unwrap();
        match entry.stored.value {
            skiff_store::codec::StoredValue::Object(object) => {
                assert_eq!(object.info().kind, "CronTab", "member {id}");
            }
            other @ skiff_store::codec::StoredValue::Raw(_) => panic!("member {id}: {other:?}"),
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_snapshot_holds_the_store_without_its_raft_state() {
    let cluster = Cluster::start(3, 0).await;
    let leader = cluster.leader(&[1, 2, 3]).await;
    write_all(cluster.store(leader), (1..=5).map(|i| format!("s-{i}"))).await;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("member.snap");
    let saved = cluster.store(leader).snapshot_save(&path).unwrap();
    assert_eq!(saved, cluster.store(leader).status().unwrap());
    assert_eq!(Store::snapshot_status(&path).unwrap().status, saved);
    let restored = tmp.path().join("restored");
    assert_eq!(Store::restore(&path, &restored).unwrap(), saved);
    let store = Store::open(Backing::Dir(restored), clock()).unwrap();
    assert_eq!(store.status().unwrap(), saved);
    assert_eq!(store.state_hash().unwrap(), store.rebuild_hash().unwrap());
    cluster.shutdown().await;
}
