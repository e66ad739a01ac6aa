//! The kubelet's node API: authentication, logs, exec, crictl, and bad frames over TCP.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use skiff_core::client::{ExecOutput, LogParams};
use skiff_core::clock::{Clock, ManualClock};
use skiff_core::kubelet_api::{
    self, KUBELET_PROTOCOL_VERSION, KubeletAnswer, KubeletCall, KubeletError, KubeletReply,
    KubeletRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::server::{NodeServer, rfc3339_nano, serve};
use super::{CONTAINER_NAME_LABEL, POD_UID_LABEL};
use crate::cri::sim::{SimConfig, SimRuntime};
use crate::cri::{
    ContainerConfig, ContainerMetadata, PodSandboxConfig, PodSandboxMetadata, Runtime,
};

const TOKEN: &str = "apiserver-secret";

/// A node with one nginx pod (uid `u1`) running; returns the server, clock, runtime and the
/// container's id.
fn node() -> (NodeServer, ManualClock, Arc<SimRuntime>, String) {
    let clock = ManualClock::new(1_700_000_000);
    let rt = Arc::new(SimRuntime::new(
        Arc::new(clock.clone()),
        SimConfig::default(),
    ));
    rt.update_runtime_config("10.244.0.0/24").unwrap();
    let sb = rt
        .run_pod_sandbox(&PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: "nginx".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 0,
            },
            hostname: "nginx".into(),
            labels: [(POD_UID_LABEL.to_owned(), "u1".to_owned())].into(),
            ..PodSandboxConfig::default()
        })
        .unwrap();
    rt.pull_image("nginx").unwrap();
    let c = rt
        .create_container(
            &sb,
            &ContainerConfig {
                metadata: ContainerMetadata {
                    name: "nginx".into(),
                    attempt: 0,
                },
                image: "nginx".into(),
                labels: [
                    (POD_UID_LABEL.to_owned(), "u1".to_owned()),
                    (CONTAINER_NAME_LABEL.to_owned(), "nginx".to_owned()),
                ]
                .into(),
                ..ContainerConfig::default()
            },
        )
        .unwrap();
    rt.start_container(&c).unwrap();
    clock.advance(Duration::from_millis(1500));
    let server = NodeServer::new("node-1", rt.clone(), Arc::new(clock.clone()), TOKEN);
    (server, clock, rt, c)
}

fn request(call: KubeletCall) -> KubeletRequest {
    KubeletRequest {
        protocol: KUBELET_PROTOCOL_VERSION,
        token: TOKEN.to_owned(),
        call,
    }
}

fn logs(params: LogParams) -> KubeletCall {
    KubeletCall::ContainerLogs {
        namespace: "default".into(),
        pod: "nginx".into(),
        uid: "u1".into(),
        container: "nginx".into(),
        container_id: String::new(),
        params,
    }
}

fn exec(container: &str, command: &[&str]) -> KubeletCall {
    KubeletCall::Exec {
        namespace: "default".into(),
        pod: "nginx".into(),
        uid: "u1".into(),
        container: container.into(),
        command: command.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn crictl(args: &[&str]) -> KubeletCall {
    KubeletCall::Crictl {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn output(answer: KubeletAnswer) -> ExecOutput {
    match answer {
        Ok(KubeletReply::Exec(out)) => out,
        other => panic!("not exec output: {other:?}"),
    }
}

#[tokio::test]
async fn only_the_api_servers_credential_is_accepted() {
    let (server, ..) = node();
    let mut wrong = request(crictl(&["ps"]));
    wrong.token = "guess".into();
    assert_eq!(server.handle(wrong).await, Err(KubeletError::Unauthorized));
    let mut old = request(crictl(&["ps"]));
    old.protocol = 0;
    assert_eq!(
        server.handle(old).await,
        Err(KubeletError::BadRequest(
            "protocol version 0 is not supported; this kubelet speaks 1".into()
        ))
    );
    // A kubelet configured without a credential refuses everyone.
    let (_, clock, rt, _) = node();
    let open = NodeServer::new("node-1", rt, Arc::new(clock), "");
    let mut empty = request(crictl(&["ps"]));
    empty.token = String::new();
    assert_eq!(open.handle(empty).await, Err(KubeletError::Unauthorized));
}

#[tokio::test]
async fn logs_honour_tail_timestamps_and_limit() {
    let (server, clock, _, _) = node();
    let started = clock.wall() - Duration::from_millis(1500);
    let line = "/docker-entrypoint.sh: Configuration complete; ready for start up";
    assert_eq!(
        server.handle(request(logs(LogParams::default()))).await,
        Ok(KubeletReply::Logs(format!("{line}\n")))
    );
    assert_eq!(
        server
            .handle(request(logs(LogParams {
                tail_lines: Some(0),
                ..LogParams::default()
            })))
            .await,
        Ok(KubeletReply::Logs(String::new()))
    );
    assert_eq!(
        server
            .handle(request(logs(LogParams {
                timestamps: true,
                ..LogParams::default()
            })))
            .await,
        Ok(KubeletReply::Logs(format!(
            "{} {line}\n",
            rfc3339_nano(started)
        )))
    );
    assert_eq!(
        server
            .handle(request(logs(LogParams {
                limit_bytes: Some(5),
                ..LogParams::default()
            })))
            .await,
        Ok(KubeletReply::Logs("/dock".into()))
    );
    // Nothing was written in the last second.
    assert_eq!(
        server
            .handle(request(logs(LogParams {
                since_seconds: Some(1),
                ..LogParams::default()
            })))
            .await,
        Ok(KubeletReply::Logs(String::new()))
    );
    assert_eq!(
        server
            .handle(request(logs(LogParams {
                previous: true,
                ..LogParams::default()
            })))
            .await,
        Err(KubeletError::BadRequest(
            r#"previous terminated container "nginx" in pod "nginx" not found"#.into()
        ))
    );
}

#[test]
fn log_timestamps_are_rfc3339_nano() {
    let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
    assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
    assert_eq!(
        rfc3339_nano(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        rfc3339_nano(UNIX_EPOCH + Duration::new(0, 1)),
        "1970-01-01T00:00:00.000000001Z"
    );
}

#[tokio::test]
async fn exec_runs_in_the_running_container_of_that_name() {
    let (server, ..) = node();
    assert_eq!(
        output(server.handle(request(exec("nginx", &["hostname"]))).await),
        ExecOutput {
            stdout: b"nginx\n".to_vec(),
            stderr: Vec::new(),
            exit_code: 0
        }
    );
    assert_eq!(
        server.handle(request(exec("sidecar", &["hostname"]))).await,
        Err(KubeletError::NotFound(
            r#"container not found ("sidecar")"#.into()
        ))
    );
}

#[tokio::test]
async fn crictl_verbs_answer_in_crictls_words() {
    let (server, _, rt, c) = node();
    let inspect = output(server.handle(request(crictl(&["inspect", &c[..13]]))).await);
    assert_eq!(inspect.exit_code, 0);
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json["status"]["id"], c.as_str());
    assert_eq!(json["status"]["state"], "CONTAINER_RUNNING");
    let info = output(server.handle(request(crictl(&["info"]))).await);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["status"]["conditions"][0]["type"], "RuntimeReady");
    assert_eq!(
        output(server.handle(request(crictl(&["inspect", "zzz"]))).await),
        ExecOutput {
            stdout: Vec::new(),
            stderr: b"rpc error: code = NotFound desc = container \"zzz\" not found\n".to_vec(),
            exit_code: 1
        }
    );
    assert_eq!(
        output(server.handle(request(crictl(&["frobnicate"]))).await).exit_code,
        1
    );
    assert_eq!(
        output(server.handle(request(crictl(&["stop", &c[..13]]))).await),
        ExecOutput {
            stdout: format!("{}\n", &c[..13]).into_bytes(),
            stderr: Vec::new(),
            exit_code: 0
        }
    );
    assert_eq!(
        output(server.handle(request(crictl(&["rm", &c]))).await).stdout,
        format!("{c}\n").into_bytes()
    );
    assert!(rt.container_status(&c).is_err(), "removed");
    let pulled = output(server.handle(request(crictl(&["pull", "busybox"]))).await);
    assert_eq!(
        pulled.exit_code,
        0,
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert!(
        String::from_utf8_lossy(&pulled.stdout).starts_with("Image is up to date for sha256:"),
        "{}",
        String::from_utf8_lossy(&pulled.stdout)
    );
}

#[tokio::test]
async fn bad_frames_end_only_their_own_connection() {
    let (server, ..) = node();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, Arc::new(server)));
    let call = async |bytes: Vec<u8>| -> KubeletAnswer {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        s.flush().await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        kubelet_api::decode(&answer[4..]).unwrap()
    };
    // An oversized length prefix is refused before anything is read.
    assert_eq!(
        call(u32::MAX.to_le_bytes().to_vec()).await,
        Err(KubeletError::BadRequest(
            "frame of 4294967295 bytes exceeds the limit of 16777216".into()
        ))
    );
    // Garbage in a frame.
    let mut garbage = 3_u32.to_le_bytes().to_vec();
    garbage.extend([0xff, 0xfe, 0xfd]);
    assert!(matches!(
        call(garbage).await,
        Err(KubeletError::BadRequest(m)) if m.starts_with("malformed frame")
    ));
    // The server still answers a good request.
    let good = kubelet_api::to_frame(&request(exec("nginx", &["hostname"]))).unwrap();
    assert_eq!(output(call(good).await).stdout, b"nginx\n");
}
