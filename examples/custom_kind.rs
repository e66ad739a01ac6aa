//! A custom resource kind with its own controller, embedded: `GameServer`
//! (`games.example.com/v1`) asks for `replicas` game-server pods; a pure reconciler creates them
//! (owned by the GameServer), reports how many run, and the garbage collector removes them when
//! the GameServer is deleted. The kind and its controller live in
//! `examples/support/game_server.rs`, shared with `examples/chaos_test.rs`, which tests the
//! same controller under crashes and partitions in the simulator.
//!
//! Run with `cargo run --example custom_kind`; it exits non-zero if any step fails. Time is
//! tokio's paused clock, so the run takes well under a second of wall time.

#[path = "support/game_server.rs"]
mod game_server;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

// Public for the tests that include this example (tests/custom_kinds.rs).
pub use game_server::*;
use skiff::Cluster;
use skiff::controllers::runtime::TokioClock;
use skiff::core::client::{DeleteOptions, ListParams};
use skiff::core::object::{Node, Pod};

const FLEET: &str = "
apiVersion: games.example.com/v1
kind: GameServer
metadata:
  name: arena
spec:
  image: nginx
  replicas: 3
  port: 7777
";

/// Polls `check` once a (paused-clock) second until it holds, for at most `seconds`.
async fn eventually<F, Fut>(what: &str, seconds: u32, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds {
        if check().await {
            println!("ok: {what}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("timed out after {seconds} s waiting until {what}"))
}

/// The whole story; `Err` names the step that failed.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(7)
        .clock(clock)
        .nodes(2)
        .kind::<GameServer>()
        .controller(GameServerController::new())
        .build()
        .await?;
    let nodes = cluster.api_all::<Node>();
    eventually("two nodes are registered", 60, || async {
        nodes
            .list(ListParams::default())
            .await
            .is_ok_and(|n| n.len() == 2)
    })
    .await?;

    // A malformed fleet is refused with the field that is wrong.
    let refused = cluster
        .apply_yaml(&FLEET.replace("port: 7777", "port: 0"))
        .await
        .err()
        .ok_or("a GameServer with port 0 was accepted")?;
    println!("refused: {refused}");

    cluster.apply_yaml(FLEET).await?;
    let games = cluster.api::<GameServer>("default");
    let pods = cluster.api::<Pod>("default");
    let running = || async {
        pods.list(ListParams {
            label_selector: "games.example.com/server=arena".into(),
            ..ListParams::default()
        })
        .await
        .map_or(0, |pods| {
            pods.iter()
                .filter(|p| p.status.phase.as_deref() == Some("Running"))
                .count()
        })
    };
    eventually("the three arena pods are Running", 120, || async {
        running().await == 3
    })
    .await?;
    eventually("the GameServer reports 3 ready replicas", 30, || async {
        games
            .get("arena")
            .await
            .is_ok_and(|g| g.status == Some(GameServerStatus { ready_replicas: 3 }))
    })
    .await?;

    games.delete("arena", DeleteOptions::default()).await?;
    eventually(
        "the garbage collector removed the arena pods",
        120,
        || async {
            pods.list(ListParams {
                label_selector: "games.example.com/server=arena".into(),
                ..ListParams::default()
            })
            .await
            .is_ok_and(|p| p.is_empty())
        },
    )
    .await?;
    cluster.shutdown().await;
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => {
            println!("custom_kind: all steps passed");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_kind: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
