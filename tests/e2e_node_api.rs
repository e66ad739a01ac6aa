//! Logs, exec and crictl through the API server to the kubelets' node API (seed §4; issue #6
//! item 4), over the wire protocol, against in-process nodes under paused tokio time.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use skiff::Cluster;
use skiff::controllers::cri::{ContainerFilter, LogOptions, Runtime};
use skiff::controllers::runtime::TokioClock;
use skiff::core::client::{Client, ClientError, ExecParams, ListParams, LogParams};
use skiff::core::object::{Node, Pod};
use skiff::core::status::Reason;
use skiff_store::apiserver::ApiHandler;
use skiff_store::apiserver::authn::Authenticator;
use skiff_store::wire::{WireClient, serve};

const WORKLOAD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: nginx}
spec:
  containers:
  - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: nginx, ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: shell, image: busybox, command: [sleep, '3600']}
---
apiVersion: v1
kind: Pod
metadata: {name: stuck}
spec:
  nodeSelector: {disk: none}
  containers:
  - {name: app, image: busybox, command: [sleep, '3600']}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: log-reader}
rules:
- {apiGroups: [''], resources: [pods, pods/log], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jane-reads-logs}
subjects:
- {kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: Role, name: log-reader, apiGroup: rbac.authorization.k8s.io}
";

fn exec(command: &[&str]) -> ExecParams {
    ExecParams {
        container: None,
        command: command.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn status_of(e: ClientError) -> (Reason, String) {
    match e {
        ClientError::Status(s) => (s.reason, s.message),
        ClientError::Transport(t) => panic!("transport error: {t}"),
    }
}

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
#[allow(clippy::too_many_lines, reason = "one story, told in order")]
async fn logs_exec_and_crictl_reach_the_kubelet_through_the_api_server() {
    let clock = Arc::new(TokioClock::new(
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let cluster = Cluster::builder()
        .seed(11)
        .clock(clock)
        .nodes(2)
        .build()
        .await
        .unwrap();
    let mut authn = Authenticator::new(3);
    authn
        .load_token_file("tokens.csv", "jane-token,jane,u-jane\n")
        .unwrap();
    let admin_token = authn.admin_token().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handler = Arc::new(ApiHandler::new(cluster.api_server().clone(), authn));
    tokio::spawn(serve(listener, handler));
    let admin = WireClient::connect(&addr, &admin_token).await.unwrap();
    let jane = WireClient::connect(&addr, "jane-token").await.unwrap();

    for _ in 0..60 {
        let ready = cluster
            .api_all::<Node>()
            .list(ListParams::default())
            .await
            .unwrap()
            .len();
        if ready == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cluster.apply_yaml(WORKLOAD).await.unwrap();
    let nginx = running(&cluster, "nginx").await;
    let client = running(&cluster, "client").await;
    for _ in 0..60 {
        let out = admin
            .pod_exec("default", "client", exec(&["wget", "-qO-", "http://web"]))
            .await
            .unwrap();
        if out.exit_code == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // The node records where its kubelet API listens.
    let node_name = nginx.spec.node_name.clone().unwrap();
    let node = cluster.api_all::<Node>().get(&node_name).await.unwrap();
    assert_ne!(node.status.daemon_endpoints.kubelet_endpoint.port, 10250);
    assert!(node.status.daemon_endpoints.kubelet_endpoint.port > 0);

    // exec: `hostname` prints the pod's name.
    let out = admin
        .pod_exec("default", "nginx", exec(&["hostname"]))
        .await
        .unwrap();
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice(), out.exit_code),
        (&b"nginx\n"[..], &b""[..], 0)
    );

    // exec from another pod: `wget` of the Service's name reaches a backend.
    let out = admin
        .pod_exec("default", "client", exec(&["wget", "-qO-", "http://web"]))
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("<h1>Welcome to nginx!</h1>"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Two requests to the nginx pod leave two access lines in its log.
    let url = format!("http://{}/", nginx.status.pod_ip.clone().unwrap());
    for _ in 0..2 {
        let out = admin
            .pod_exec("default", "client", exec(&["wget", "-qO-", &url]))
            .await
            .unwrap();
        assert_eq!(out.exit_code, 0);
    }
    let runtime = cluster.runtime(&node_name).unwrap();
    let container = runtime
        .list_containers(&ContainerFilter::default())
        .into_iter()
        .find(|c| c.labels.get("io.kubernetes.pod.name").map(String::as_str) == Some("nginx"))
        .unwrap();
    let lines: Vec<String> = runtime
        .container_logs(&container.id, &LogOptions::default())
        .unwrap()
        .into_iter()
        .map(|l| l.text)
        .collect();
    let client_ip = client.status.pod_ip.clone().unwrap();
    let access = format!(r#"{client_ip} - - "GET / HTTP/1.1" 200 121 "-" "Wget" "-""#);
    assert_eq!(
        lines,
        [
            "/docker-entrypoint.sh: Configuration complete; ready for start up".to_owned(),
            access.clone(),
            access.clone(),
        ]
    );

    // logs: the runtime's exact lines; --tail 2 the last two.
    let text = admin
        .pod_logs("default", "nginx", LogParams::default())
        .await
        .unwrap();
    assert_eq!(text, format!("{}\n", lines.join("\n")));
    let tail = admin
        .pod_logs(
            "default",
            "nginx",
            LogParams {
                tail_lines: Some(2),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail, format!("{access}\n{access}\n"));
    // A user granted `get` on `pods/log` reads it too.
    assert_eq!(
        jane.pod_logs("default", "nginx", LogParams::default())
            .await
            .unwrap(),
        text
    );

    // A user without `create` on `pods/exec` is refused in upstream's words.
    let refused = jane
        .pod_exec("default", "nginx", exec(&["hostname"]))
        .await
        .unwrap_err();
    assert_eq!(
        status_of(refused),
        (
            Reason::Forbidden,
            r#"pods "nginx" is forbidden: User "jane" cannot create resource "pods/exec" in API group "" in the namespace "default""#.to_owned()
        )
    );

    // A pod no node could take has no host to exec on, and an empty log.
    let unbound = admin
        .pod_exec("default", "stuck", exec(&["hostname"]))
        .await
        .unwrap_err();
    assert_eq!(
        status_of(unbound),
        (
            Reason::BadRequest,
            "pod stuck does not have a host assigned".to_owned()
        )
    );
    assert_eq!(
        admin
            .pod_logs("default", "stuck", LogParams::default())
            .await
            .unwrap(),
        ""
    );

    // A container the pod does not have.
    let wrong = admin
        .pod_logs(
            "default",
            "nginx",
            LogParams {
                container: Some("nope".into()),
                ..LogParams::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        status_of(wrong),
        (
            Reason::BadRequest,
            "container nope is not valid for pod nginx".to_owned()
        )
    );
    // No previous instance yet.
    let previous = admin
        .pod_logs(
            "default",
            "nginx",
            LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        status_of(previous),
        (
            Reason::BadRequest,
            r#"previous terminated container "nginx" in pod "nginx" not found"#.to_owned()
        )
    );

    // crictl through nodes/proxy: the node's containers in crictl's columns.
    let ps = admin
        .node_crictl(&node_name, vec!["ps".into()])
        .await
        .unwrap();
    assert_eq!(ps.exit_code, 0);
    let ps = String::from_utf8(ps.stdout).unwrap();
    let header = ps.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "CONTAINER",
            "IMAGE",
            "CREATED",
            "STATE",
            "NAME",
            "ATTEMPT",
            "POD",
            "ID",
            "POD"
        ]
    );
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&container.id[..13]) && l.ends_with(" nginx")),
        "{ps}"
    );
    let refused = jane
        .node_crictl(&node_name, vec!["ps".into()])
        .await
        .unwrap_err();
    assert_eq!(
        status_of(refused),
        (
            Reason::Forbidden,
            format!(
                r#"nodes "{node_name}" is forbidden: User "jane" cannot get resource "nodes/proxy" in API group "" at the cluster scope"#
            )
        )
    );
    cluster.shutdown().await;
}

/// A pod bound to a node whose kubelet does not answer: upstream's `error dialing backend`,
/// dialed at the address and port the Node reports.
#[tokio::test]
async fn a_node_that_does_not_answer_is_an_error_dialing_backend() {
    let cluster = Cluster::builder()
        .seed(12)
        .without_controllers()
        .build()
        .await
        .unwrap();
    // A port nobody listens on any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = cluster.client();
    cluster
        .apply_yaml(
            "apiVersion: v1\nkind: Node\nmetadata: {name: gone}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: nginx}]\n",
        )
        .await
        .unwrap();
    let mut node = cluster.api_all::<Node>().get("gone").await.unwrap();
    node.status.addresses = vec![skiff::core::object::NodeAddress {
        type_: "InternalIP".into(),
        address: "127.0.0.1".into(),
    }];
    node.status.daemon_endpoints.kubelet_endpoint.port = i32::from(port);
    client.update_status(node.into()).await.unwrap();
    client
        .bind(
            "default",
            "web",
            skiff::core::client::Binding {
                node: "gone".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let refused = client
        .pod_exec("default", "web", exec(&["hostname"]))
        .await
        .unwrap_err();
    assert_eq!(
        status_of(refused),
        (
            Reason::InternalError,
            format!(
                "error dialing backend: dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        )
    );
    // A Node no longer there.
    client
        .delete(
            &skiff::core::object::info::NODE,
            "",
            "gone",
            skiff::core::client::DeleteOptions::default(),
        )
        .await
        .unwrap();
    let missing = client
        .node_crictl("gone", vec!["ps".into()])
        .await
        .unwrap_err();
    assert_eq!(
        status_of(missing),
        (Reason::NotFound, r#"nodes "gone" not found"#.to_owned())
    );
    cluster.shutdown().await;
}
