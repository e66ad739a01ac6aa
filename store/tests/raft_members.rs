//! Three replicated members on loopback TCP (issue #11): a leader is elected, writes through
//! it are acknowledged after commit and apply, a write on a follower is forwarded to the leader
//! and acknowledged once the follower applied it, malformed or misdirected requests are
//! refused, and every member ends with the same log and projections.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use skiff_core::clock::ManualClock;
use skiff_core::event::Actor;
use skiff_core::object::{ConfigMap, Object, ObjectMeta};
use skiff_store::raft::{MemberConfig, RaftTiming, Replica, Replication};
use skiff_store::wire::frame;
use skiff_store::{Backing, Store, WriteError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

type Node = (Store, Arc<Replica>);

/// Opens three members on loopback ports, in memory; returns them with their Raft addresses.
async fn start_members() -> (BTreeMap<u64, Node>, BTreeMap<u64, String>) {
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3_u64 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        members.insert(id, listener.local_addr().unwrap().to_string());
        listeners.push((id, listener));
    }
    let timing = RaftTiming {
        heartbeat_ms: 50,
        election_min_ms: 300,
        election_max_ms: 600,
    };
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let mut nodes: BTreeMap<u64, Node> = BTreeMap::new();
    for (id, listener) in listeners {
        let member = MemberConfig {
            timing,
            snapshot_every: 0,
            ..MemberConfig::new(id, members.clone())
        };
        let node = Store::open_member(Backing::Memory, clock.clone(), &member, listener)
            .await
            .unwrap();
        nodes.insert(id, node);
    }
    (nodes, members)
}

/// Sends `bytes` to a member's Raft port; returns what the member answered before closing.
async fn answer_to(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the member kept a bad connection open");
    answer
}

/// Sends one frame to a member's Raft port; returns the payload of the one frame it answers.
async fn one_answer(addr: &str, payload: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&frame(payload).unwrap()).await.unwrap();
    stream.flush().await.unwrap();
    let mut prefix = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut prefix)).await;
    assert!(read.is_ok(), "no answer");
    let mut answer = vec![0u8; usize::try_from(u32::from_le_bytes(prefix)).unwrap()];
    stream.read_exact(&mut answer).await.unwrap();
    answer
}

/// Waits until a leader is elected and every member knows it; returns its id.
async fn elected_leader(nodes: &BTreeMap<u64, Node>) -> u64 {
    // A leader is elected and every member learns who it is.
    let (_, first) = &nodes[&1];
    assert!(
        first
            .wait_for(Duration::from_secs(10), |s| s.leader.is_some())
            .await,
        "no leader within 10 s"
    );
    let leader = first.leader().unwrap();
    for (_, replica) in nodes.values() {
        assert!(
            replica
                .wait_for(Duration::from_secs(5), |s| s.leader == Some(leader))
                .await
        );
    }
    assert_eq!(
        nodes.values().filter(|(_, r)| r.is_leader()).count(),
        1,
        "one leader"
    );

    leader
}

/// skiff's own requests on the Raft port, encoded by hand (bincode: variant index, then the
/// fields), get exact answers.
async fn check_own_requests(
    nodes: &BTreeMap<u64, Node>,
    addrs: &BTreeMap<u64, String>,
    leader: u64,
) {
    // A forwarded batch that does not decode is refused, never proposed:
    // `Forwarded(Err(Unavailable(..)))`.
    let answer = one_answer(&addrs[&leader], &[4, 3, 0xde, 0xad, 0xbe]).await;
    assert_eq!(answer[..3], [4, 1, 2], "{answer:?}");
    assert!(
        String::from_utf8_lossy(&answer).contains("forwarded batch refused"),
        "{answer:?}"
    );
    // A follower asked for a read index names the leader: `ReadIndex(Err(NotLeader(Some(l))))`.
    let follower = *nodes.keys().find(|id| **id != leader).unwrap();
    let leader_byte = u8::try_from(leader).unwrap();
    assert_eq!(
        one_answer(&addrs[&follower], &[5]).await,
        [5, 1, 0, 1, leader_byte]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_replicate_writes_through_the_leader() {
    let (nodes, addrs) = start_members().await;

    // Bad frames end their own connection, unanswered, and nothing else.
    for addr in addrs.values() {
        assert_eq!(answer_to(addr, &u32::MAX.to_le_bytes()).await, b"");
        assert_eq!(
            answer_to(addr, &frame(b"not a raft message").unwrap()).await,
            b""
        );
    }

    let leader = elected_leader(&nodes).await;

    check_own_requests(&nodes, &addrs, leader).await;

    // 100 writes through the leader, each acknowledged with the next revision.
    let admin = Actor::new("admin");
    let (leader_store, leader_replica) = &nodes[&leader];

    for i in 1..=100_u64 {
        let stored = match leader_store
            .create(&admin, config_map(&format!("cm-{i}")))
            .await
        {
            Ok(s) => s,
            Err(e) => panic!("write {i}: {e:?}"),
        };
        assert_eq!(
            stored.metadata().resource_version.as_deref(),
            Some(i.to_string().as_str())
        );
    }
    // A rejected write is replicated and rejected the same way; it changes nothing.
    let duplicate = leader_store.create(&admin, config_map("cm-1")).await;
    assert!(
        matches!(duplicate, Err(WriteError::Rejected(_))),
        "{duplicate:?}"
    );

    // A write on a follower is forwarded to the leader, and acknowledged once the follower
    // has applied it: its own reads see it at once.
    let follower = *nodes.keys().find(|id| **id != leader).unwrap();
    let (follower_store, _) = &nodes[&follower];
    let forwarded = follower_store
        .create(&admin, config_map("on-a-follower"))
        .await
        .unwrap();
    assert_eq!(
        forwarded.metadata().resource_version.as_deref(),
        Some("101")
    );
    let (revision, entry) = follower_store
        .get("/registry/configmaps/default/on-a-follower")
        .unwrap();
    assert_eq!((revision.0, entry.stored.mod_revision.0), (101, 101));
    // A rejected forwarded write answers the rejection, as on the leader.
    let duplicate = follower_store.create(&admin, config_map("cm-2")).await;
    assert!(
        matches!(
            &duplicate,
            Err(WriteError::Rejected(skiff_store::Rejection::AlreadyExists { key }))
                if key == "/registry/configmaps/default/cm-2"
        ),
        "{duplicate:?}"
    );

    // Every member applies everything: same revision, same log, same projections.
    let leader_status = leader_replica.status();
    let applied = leader_status.applied_index;
    for (store, replica) in nodes.values() {
        assert!(
            replica
                .wait_for(Duration::from_secs(5), |s| s.applied_index == applied
                    && s.committed_index == applied)
                .await,
            "member {} did not catch up to {applied:?}",
            replica.id()
        );
        // endpoint status: every member agrees on leader and term, and has applied and
        // committed the same index (the blank entry of the election, 100 writes, 1 rejected,
        // 2 forwarded).
        let member = replica.status();
        assert_eq!(
            (
                member.leader,
                member.term,
                member.committed_index,
                member.applied_index,
                member.last_log_index,
                member.voters
            ),
            (
                Some(leader),
                leader_status.term,
                applied,
                applied,
                applied,
                BTreeSet::from([1, 2, 3])
            )
        );
        let status = store.status().unwrap();
        assert_eq!(status.revision.0, 101);
        assert_eq!(status.events, 101);
        assert_eq!(status.keys, 101);
        assert_eq!(status, leader_store.status().unwrap());
        assert_eq!(store.state_hash().unwrap(), store.rebuild_hash().unwrap());
        assert_eq!(
            store.get("/registry/configmaps/default/cm-42").unwrap(),
            leader_store
                .get("/registry/configmaps/default/cm-42")
                .unwrap()
        );
    }
    for (_, replica) in nodes.values() {
        replica.shutdown().await;
    }
}
