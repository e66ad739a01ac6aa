//! The wire server admits a boot storm of connections: thousands of simulated nodes connecting
//! at once all get in well within their connect timeout (`CALL_TIMEOUT`, 5 s). With one accept
//! loop the simulated server admitted 1,000 connections per simulated second (madsim's accept
//! waits at least 1 ms), and at 5,000 workers half the kubelets never got in.
#![cfg(madsim)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_core::clock::{Clock, SystemClock};
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::apiserver::{ApiHandler, ApiServer};
use skiff_store::wire::{WireClient, serve};
use skiff_store::{Backing, Store};

/// Clients connecting at the same instant.
const CLIENTS: u32 = 3_000;

#[test]
fn three_thousand_simultaneous_connections_are_admitted_within_a_second() {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(7, madsim::Config::default());
    let slowest = runtime.block_on(async {
        let handle = madsim::runtime::Handle::current();
        let server = handle
            .create_node()
            .name("api")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
            .build();
        server.spawn(async {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
            let store = Store::open(Backing::Memory, clock.clone()).unwrap();
            let api = Arc::new(ApiServer::new(store, clock, 7));
            let handler = Arc::new(ApiHandler::new(
                api,
                Authenticator::with_key([7; 32], "admin-token"),
            ));
            let listener = tokio::net::TcpListener::bind("0.0.0.0:7443").await.unwrap();
            serve(listener, handler).await;
        });
        // Let the server bind.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let start = tokio::time::Instant::now();
        let took: Arc<Mutex<Vec<Duration>>> = Arc::default();
        for i in 0..CLIENTS {
            let [_, _, hi, lo] = (0x0a01_0000_u32 + i).to_be_bytes();
            let node = handle
                .create_node()
                .ip(IpAddr::V4(Ipv4Addr::new(10, 1, hi, lo)))
                .build();
            let took = took.clone();
            node.spawn(async move {
                let client = WireClient::connect("10.0.0.1:7443", "admin-token").await;
                assert!(client.is_ok(), "client {i}: {:?}", client.err());
                took.lock().unwrap().push(start.elapsed());
                // Keep the connection open until every client is in.
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(client);
            });
        }
        while took.lock().unwrap().len() < CLIENTS as usize {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        took.lock().unwrap().iter().copied().max().unwrap()
    });
    // One accept loop: about 3 s (1 ms per accept). Sixteen: well under a second.
    assert!(
        slowest < Duration::from_secs(1),
        "the last of {CLIENTS} clients got in after {slowest:?}"
    );
}
