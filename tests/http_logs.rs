//! `GET …/pods/{name}/log` over the HTTP API against in-process nodes (paused tokio time):
//! plain reads, `follow=true` streaming new lines as they are written, and the errors.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use skiff::Cluster;
use skiff::controllers::runtime::TokioClock;
use skiff::core::client::ExecParams;
use skiff::core::object::Pod;
use skiff::http::{HttpApi, HttpBody, HttpRequest};
use skiff::store::apiserver::ApiHandler;
use skiff::store::apiserver::authn::Authenticator;

const PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {name: nginx}
spec:
  containers:
  - {name: nginx, image: nginx}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: shell, image: busybox, command: [sleep, '3600']}
";

async fn running(cluster: &Cluster, name: &str) -> Pod {
    let pods = cluster.api::<Pod>("default");
    for _ in 0..180 {
        if let Ok(pod) = pods.get(name).await
            && pod.status.phase.as_deref() == Some("Running")
            && pod.status.pod_ip.is_some()
        {
            return pod;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("pod {name} never ran");
}

#[tokio::test(start_paused = true)]
async fn the_log_is_served_as_text_and_followed_as_it_grows() {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(21)
        .clock(clock.clone())
        .nodes(1)
        .build()
        .await
        .unwrap();
    let authn = Authenticator::with_key([7; 32], "admin-token");
    let http = HttpApi::new(
        Arc::new(ApiHandler::new(cluster.api_server().clone(), authn)),
        clock,
    );
    let get =
        |uri: &str| HttpRequest::new("GET", uri).header("Authorization", "Bearer admin-token");
    cluster.apply_yaml(PODS).await.unwrap();
    let nginx = running(&cluster, "nginx").await;
    let client = running(&cluster, "client").await;
    let ready = "/docker-entrypoint.sh: Configuration complete; ready for start up\n";

    let plain = http
        .handle(get(
            "/api/v1/namespaces/default/pods/nginx/log?container=nginx",
        ))
        .await;
    assert_eq!(
        (plain.status, plain.content_type, plain.bytes()),
        (200, "text/plain", ready.as_bytes())
    );

    let followed = http
        .handle(get("/api/v1/namespaces/default/pods/nginx/log?follow=true"))
        .await;
    assert_eq!(followed.status, 200);
    let HttpBody::Stream(mut lines) = followed.body else {
        panic!("a followed log streams");
    };
    assert_eq!(lines.recv().await.unwrap(), ready.as_bytes());
    // A request to nginx writes an access line, which the follower sends next.
    let url = format!("http://{}/", nginx.status.pod_ip.unwrap());
    let out = cluster
        .client()
        .pod_exec(
            "default",
            "client",
            ExecParams {
                container: None,
                command: vec!["wget".into(), "-qO-".into(), url],
            },
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    let next = lines.recv().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&next),
        format!(
            "{} - - \"GET / HTTP/1.1\" 200 121 \"-\" \"Wget\" \"-\"\n",
            client.status.pod_ip.unwrap()
        )
    );
    drop(lines);

    let missing = http
        .handle(get("/api/v1/namespaces/default/pods/nope/log"))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json_body()["message"], "pods \"nope\" not found");
    let bad = http
        .handle(get(
            "/api/v1/namespaces/default/pods/nginx/log?tailLines=many",
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json_body()["message"], "invalid tailLines \"many\"");
    cluster.shutdown().await;
}
