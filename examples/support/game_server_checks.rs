//! The chaos-test side of `GameServer` (game_server.rs), for examples/chaos_test.rs: the
//! scripted workload (GameServers created, scaled and deleted while the faults run) and a
//! checker of the controller's invariants:
//!
//! - safety, at every committed pod: a pod a GameServer controls is one of its fleet, named
//!   `<gameserver>-<i>` with `i` below the largest `spec.replicas` the GameServer ever had (a
//!   controller acting on an out-of-date view may lag, but never invents a pod beyond any
//!   size it was asked for);
//! - liveness, once converged: each GameServer has exactly `spec.replicas` live pods it
//!   controls, all Running, and reports them in `status.readyReplicas`; no live pod
//!   controlled by a deleted GameServer survives the garbage collector.

#![allow(
    dead_code,
    reason = "each example or test uses a part of the shared module"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use skiff_core::event::{Change, Event};
use skiff_core::object::{HasKindInfo, Object};
use skiff_sim::check::user::Checker;
use skiff_sim::testkit::ChaosTest;

use super::game_server::{GameServer, as_game_server, pod_index};

/// The checker's name.
pub const CHECKER: &str = "gameserver-fleets";

/// A GameServer manifest.
pub fn manifest(name: &str, replicas: i32) -> String {
    format!(
        "apiVersion: games.example.com/v1
kind: GameServer
metadata:
  name: {name}
  namespace: default
spec:
  image: nginx:1.27
  replicas: {replicas}
  port: 7777
"
    )
}

/// The scripted workload: `arena` (3 servers), `lobby` (2) and `practice` (1) at 2 s; at
/// 40 s `arena` scales down to 1 and `lobby` up to 4; at 70 s `practice` is deleted.
pub fn script(test: ChaosTest) -> ChaosTest {
    let first = [
        manifest("arena", 3),
        manifest("lobby", 2),
        manifest("practice", 1),
    ]
    .join("---\n");
    let scaled = [manifest("arena", 1), manifest("lobby", 4)].join("---\n");
    test.apply_at(Duration::from_secs(2), &first)
        .apply_at(Duration::from_secs(40), &scaled)
        .delete_at(
            Duration::from_secs(70),
            "gameservers",
            "default",
            "practice",
        )
}

/// The GameServers [`script`] leaves, `namespace/name` → `spec.replicas`.
pub const SCRIPTED_END: [(&str, i32); 2] = [("default/arena", 1), ("default/lobby", 4)];

/// Checks the GameServer controller's invariants (see the module docs).
#[derive(Debug, Default)]
pub struct FleetChecker {
    /// GameServer uid → (`namespace/name`, the largest `spec.replicas` it had).
    games: BTreeMap<String, (String, i32)>,
    /// The GameServers the workload leaves (`namespace/name` → `spec.replicas`), checked at
    /// the end when given: proof that the script's steps all happened.
    expected_end: Option<BTreeMap<String, i32>>,
}

impl FleetChecker {
    /// The checker, also requiring that the GameServers at the end are exactly [`script`]'s.
    pub fn for_script() -> Self {
        Self {
            games: BTreeMap::new(),
            expected_end: Some(
                SCRIPTED_END
                    .iter()
                    .map(|(name, replicas)| ((*name).to_owned(), *replicas))
                    .collect(),
            ),
        }
    }
}

fn controlled_by_game_server(object: &Object) -> Option<&str> {
    object
        .metadata()
        .controller_ref()
        .filter(|r| {
            r.kind == GameServer::INFO.kind && r.api_version == GameServer::INFO.api_version
        })
        .map(|r| r.uid.as_str())
}

fn live_pods(objects: &[Object]) -> impl Iterator<Item = &Object> {
    objects
        .iter()
        .filter(|o| matches!(o, Object::Pod(_)) && o.metadata().deletion_timestamp.is_none())
}

impl Checker for FleetChecker {
    fn name(&self) -> &'static str {
        CHECKER
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<String>) {
        let (Change::Create(object) | Change::Update { object, .. }) = &event.change else {
            return;
        };
        if let Some(game) = as_game_server(object) {
            let meta = &game.metadata;
            let entry = self
                .games
                .entry(meta.uid.clone().unwrap_or_default())
                .or_insert_with(|| {
                    (
                        format!("{}/{}", meta.namespace_or_empty(), meta.name_or_empty()),
                        0,
                    )
                });
            entry.1 = entry.1.max(game.spec.replicas);
            return;
        }
        let (Object::Pod(pod), Change::Create(_)) = (object, &event.change) else {
            return;
        };
        let Some(uid) = controlled_by_game_server(object) else {
            return;
        };
        let meta = &pod.metadata;
        let owner = meta.controller_ref().map_or("", |r| r.name.as_str());
        let (game, most) = self
            .games
            .get(uid)
            .map_or(("?", 0), |(name, most)| (name.as_str(), *most));
        if pod_index(owner, meta.name_or_empty()).is_none_or(|i| i >= most) {
            out.push(format!(
                "GameServer {game} (spec.replicas at most {most}) controls pod {}/{}",
                meta.namespace_or_empty(),
                meta.name_or_empty()
            ));
        }
    }

    fn unconverged(&self, objects: &[Object]) -> Vec<String> {
        let mut missing = Vec::new();
        let uids: BTreeSet<&str> = objects
            .iter()
            .filter_map(|o| o.metadata().uid.as_deref())
            .collect();
        for game in objects.iter().filter_map(as_game_server) {
            let meta = &game.metadata;
            if meta.deletion_timestamp.is_some() {
                continue;
            }
            let uid = meta.uid.as_deref().unwrap_or_default();
            let pods: Vec<&Object> = live_pods(objects)
                .filter(|o| controlled_by_game_server(o) == Some(uid))
                .collect();
            let running = pods
                .iter()
                .filter(
                    |o| matches!(o, Object::Pod(p) if p.status.phase.as_deref() == Some("Running")),
                )
                .count();
            let ready = game.status.as_ref().map_or(0, |s| s.ready_replicas);
            let want = usize::try_from(game.spec.replicas).unwrap_or_default();
            if pods.len() != want || running != want || ready != game.spec.replicas {
                missing.push(format!(
                    "GameServer {}/{} wants {want} pods: has {}, {running} Running, reports {ready} ready",
                    meta.namespace_or_empty(),
                    meta.name_or_empty(),
                    pods.len()
                ));
            }
        }
        for pod in live_pods(objects) {
            if let Some(uid) = controlled_by_game_server(pod)
                && !uids.contains(uid)
            {
                let meta = pod.metadata();
                missing.push(format!(
                    "pod {}/{} survives its deleted GameServer {}",
                    meta.namespace_or_empty(),
                    meta.name_or_empty(),
                    meta.controller_ref().map_or("", |r| r.name.as_str())
                ));
            }
        }
        missing
    }

    fn finish(&mut self, objects: &[Object], out: &mut Vec<String>) {
        out.extend(self.unconverged(objects));
        if let Some(expected) = &self.expected_end {
            let actual: BTreeMap<String, i32> = objects
                .iter()
                .filter_map(as_game_server)
                .filter(|g| g.metadata.deletion_timestamp.is_none())
                .map(|g| {
                    let meta = &g.metadata;
                    (
                        format!("{}/{}", meta.namespace_or_empty(), meta.name_or_empty()),
                        g.spec.replicas,
                    )
                })
                .collect();
            if actual != *expected {
                out.push(format!(
                    "the GameServers at the end are {actual:?}, the workload leaves {expected:?}"
                ));
            }
        }
    }
}
