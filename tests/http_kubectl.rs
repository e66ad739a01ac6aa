//! The seed's CKA session with the real kubectl binary against skiff's HTTP API, started in
//! this process on a free loopback port, over TLS with a self-signed certificate, and a
//! kubeconfig (certificate authority and bearer token) in a temporary directory: kubectl
//! authenticates with the token, as against `skiff up`.
//!
//! The session runs against the API server alone (no controllers, so the outputs are exact;
//! the clock is a `ManualClock`, so every `AGE` is `0s`); `rollout status` runs against `skiff
//! up` with its in-process nodes in a second test, with `kubectl logs` and `kubectl exec`
//! (WebSocket) through the kubelets' node API. Skipped, with a message, when `kubectl` is not
//! on PATH.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[path = "support/kubectl.rs"]
mod kubectl;

use kubectl::{Kubectl, kubectl_on_path, start};

const NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: node01
  labels:
    node-role.kubernetes.io/worker: \"\"
";

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one session, step by step as the seed runs it"
)]
fn the_seed_cka_session_runs_with_real_kubectl() {
    let Some(binary) = kubectl_on_path() else {
        eprintln!("skipping: kubectl is not on PATH");
        return;
    };
    let (_runtime, config) = start();
    let k = Kubectl::new(binary, &config);

    // kubectl run nginx --image=nginx; kubectl get pods
    assert_eq!(
        k.ok(&["run", "nginx", "--image=nginx"]),
        "pod/nginx created\n"
    );
    assert_eq!(
        k.ok(&["get", "pods"]),
        "NAME    READY   STATUS    RESTARTS   AGE\n\
         nginx   0/1     Pending   0          0s\n"
    );
    assert_eq!(
        k.ok(&["get", "pods", "-o", "wide"]),
        "NAME    READY   STATUS    RESTARTS   AGE   IP       NODE\n\
         nginx   0/1     Pending   0          0s    <none>   <none>\n"
    );

    // kubectl create -f replicaset-definition.yaml; kubectl get replicaset
    assert_eq!(
        k.ok(&["create", "-f", "examples/replicaset-definition.yaml"]),
        "replicaset.apps/myapp-replicaset created\n"
    );
    assert_eq!(
        k.ok(&["get", "replicaset"]),
        "NAME               DESIRED   CURRENT   READY   AGE\n\
         myapp-replicaset   3         0         0       0s\n"
    );
    let (ok, _, stderr) = k.run(&["create", "-f", "examples/replicaset-definition.yaml"]);
    assert!(!ok);
    assert_eq!(
        stderr,
        "Error from server (AlreadyExists): error when creating \"examples/replicaset-definition.yaml\": replicasets.apps \"myapp-replicaset\" already exists\n"
    );

    // kubectl scale --replicas=6 -f replicaset-definition.yaml (and by name)
    assert_eq!(
        k.ok(&[
            "scale",
            "--replicas=6",
            "-f",
            "examples/replicaset-definition.yaml"
        ]),
        "replicaset.apps/myapp-replicaset scaled\n"
    );
    assert_eq!(
        k.ok(&["get", "rs", "myapp-replicaset"]),
        "NAME               DESIRED   CURRENT   READY   AGE\n\
         myapp-replicaset   6         0         0       0s\n"
    );

    // kubectl describe pod nginx
    assert_eq!(
        k.ok(&["describe", "pod", "nginx"]),
        "Name:             nginx\n\
         Namespace:        default\n\
         Priority:         0\n\
         Service Account:  default\n\
         Node:             <none>\n\
         Labels:           run=nginx\n\
         Annotations:      <none>\n\
         Status:           Pending\n\
         IP:               \n\
         IPs:              <none>\n\
         Containers:\n  \
           nginx:\n    \
             Image:        nginx\n    \
             Port:         <none>\n    \
             Host Port:    <none>\n    \
             Environment:  <none>\n    \
             Mounts:       <none>\n\
         Volumes:          <none>\n\
         QoS Class:        BestEffort\n\
         Node-Selectors:   <none>\n\
         Tolerations:      node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n                  \
                           node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n\
         Events:           <none>\n"
    );

    // kubectl delete pod nginx
    assert_eq!(k.ok(&["delete", "pod", "nginx"]), "pod \"nginx\" deleted\n");
    let (ok, stdout, stderr) = k.run(&["get", "pods"]);
    assert!(ok);
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("", "No resources found in default namespace.\n")
    );
    let (ok, _, stderr) = k.run(&["get", "pod", "nginx"]);
    assert!(!ok);
    assert_eq!(
        stderr,
        "Error from server (NotFound): pods \"nginx\" not found\n"
    );

    // kubectl replace -f with 4 replicas
    let rs4 = std::fs::read_to_string("examples/replicaset-definition.yaml")
        .unwrap()
        .replace("replicas: 3", "replicas: 4");
    let rs4 = k.file("rs4.yaml", &rs4);
    assert_eq!(
        k.ok(&["replace", "-f", &rs4]),
        "replicaset.apps/myapp-replicaset replaced\n"
    );
    assert_eq!(
        k.ok(&["get", "rs"]),
        "NAME               DESIRED   CURRENT   READY   AGE\n\
         myapp-replicaset   4         0         0       0s\n"
    );

    // kubectl apply -f deployment-definition.yaml: created, unchanged, configured
    let deployment = "examples/deployment-definition.yaml";
    assert_eq!(
        k.ok(&["apply", "-f", deployment]),
        "deployment.apps/myapp-deployment created\n"
    );
    assert_eq!(
        k.ok(&["apply", "-f", deployment]),
        "deployment.apps/myapp-deployment unchanged\n"
    );
    let two = std::fs::read_to_string(deployment)
        .unwrap()
        .replace("replicas: 3", "replicas: 2");
    let two = k.file("deployment-2.yaml", &two);
    assert_eq!(
        k.ok(&["apply", "-f", &two]),
        "deployment.apps/myapp-deployment configured\n"
    );
    let image = std::fs::read_to_string(deployment)
        .unwrap()
        .replace("nginx:1.27", "nginx:1.28");
    let image = k.file("deployment-image.yaml", &image);
    assert_eq!(
        k.ok(&["apply", "-f", &image]),
        "deployment.apps/myapp-deployment configured\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deployment",
            "myapp-deployment",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.replicas}"
        ]),
        "nginx:1.28 80 3"
    );
    assert_eq!(
        k.ok(&["get", "deployments"]),
        "NAME               READY   UP-TO-DATE   AVAILABLE   AGE\n\
         myapp-deployment   0/3     0            0           0s\n"
    );

    // kubectl get nodes (none yet, then one registered by hand)
    let (ok, stdout, stderr) = k.run(&["get", "nodes"]);
    assert!(ok);
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("", "No resources found\n")
    );
    let node = k.file("node.yaml", NODE);
    assert_eq!(k.ok(&["create", "-f", &node]), "node/node01 created\n");
    assert_eq!(
        k.ok(&["get", "nodes"]),
        "NAME     STATUS    ROLES    AGE   VERSION\n\
         node01   Unknown   worker   0s    \n"
    );

    // kubectl get pods -w observing a change
    assert_eq!(k.ok(&["run", "web", "--image=nginx"]), "pod/web created\n");
    let mut watch = k
        .command(&["get", "pods", "-w", "--request-timeout=30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    assert_eq!(next(), "NAME   READY   STATUS    RESTARTS   AGE");
    assert_eq!(next(), "web    0/1     Pending   0          0s");
    assert_eq!(k.ok(&["run", "db", "--image=redis"]), "pod/db created\n");
    assert_eq!(next(), "db     0/1     Pending   0          0s");
    assert_eq!(k.ok(&["delete", "pod", "web"]), "pod \"web\" deleted\n");
    assert_eq!(next(), "web    0/1     Pending   0          0s");
    watch.kill().unwrap();
    watch.wait().unwrap();

    // kubectl auth can-i (a SelfSubjectAccessReview, which kubectl sends as protobuf)
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]), "yes\n");
    // As jane (impersonation), who has no role: "no", and kubectl exits 1.
    assert_eq!(
        k.run(&["auth", "can-i", "delete", "pods", "--as=jane"]),
        (false, "no\n".to_owned(), String::new())
    );
}

/// Kills `skiff up` if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `kubectl logs` (the `pods/log` subresource, which the API server gets from the kubelet of
/// the pod's node) and `kubectl exec` (a WebSocket upgrade, `v5.channel.k8s.io`) on a pod of
/// the rolled-out Deployment.
fn logs_and_exec(k: &Kubectl) {
    let pod = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=myapp-web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let ready = "/docker-entrypoint.sh: Configuration complete; ready for start up\n";
    assert_eq!(k.ok(&["logs", &pod]), ready);
    assert_eq!(k.ok(&["logs", &pod, "--tail=1", "-c", "nginx"]), ready);
    let stamped = k.ok(&["logs", &pod, "--timestamps"]);
    assert!(
        stamped.starts_with("20") && stamped.ends_with(&format!("Z {ready}")),
        "{stamped}"
    );
    // kubectl checks the container name itself, in the API server's words.
    assert_eq!(
        k.run(&["logs", &pod, "-c", "nope"]),
        (
            false,
            String::new(),
            format!("error: container nope is not valid for pod {pod}\n")
        )
    );
    // kubectl exec: a WebSocket upgrade (`v5.channel.k8s.io`); the exit code comes back.
    assert_eq!(
        k.run(&["exec", &pod, "--", "hostname"]),
        (true, format!("{pod}\n"), String::new())
    );
    let out = k
        .command(&[
            "exec",
            &pod,
            "-c",
            "nginx",
            "--",
            "sh",
            "-c",
            "echo hi; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned()
        ),
        (
            Some(3),
            "hi\n".to_owned(),
            "command terminated with exit code 3\n".to_owned()
        )
    );
}

/// `skiff up` with its in-process nodes: kubectl sees the nodes Ready, and a Deployment
/// applied with kubectl rolls out (`rollout status` finishes) with its pods Running.
#[test]
fn kubectl_rolls_out_a_deployment_on_skiff_up() {
    let Some(binary) = kubectl_on_path() else {
        eprintln!("skipping: kubectl is not on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut up = Running(
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .arg("--data-dir")
            .arg(&data)
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let kubeconfig = data.join("kubeconfig");
    for _ in 0..200 {
        if std::fs::read_to_string(&kubeconfig).is_ok_and(|t| t.ends_with("preferences: {}\n")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let k = Kubectl::new(binary, &std::fs::read_to_string(&kubeconfig).unwrap());
    let mut nodes = String::new();
    for _ in 0..100 {
        nodes = k.ok(&["get", "nodes", "-o", "custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type==\"Ready\")].status"]);
        if nodes.matches("True").count() == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        nodes,
        "NAME     READY\nnode-1   True\nnode-2   True\nnode-3   True\n"
    );
    assert_eq!(
        k.ok(&["apply", "-f", "examples/deployment-definition.yaml"]),
        "deployment.apps/myapp-deployment created\n"
    );
    let status = k.ok(&[
        "rollout",
        "status",
        "deployment/myapp-deployment",
        "--timeout=120s",
    ]);
    assert!(
        status.ends_with("deployment \"myapp-deployment\" successfully rolled out\n"),
        "{status}"
    );
    let phases = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=myapp-web",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(phases, "Running Running Running");
    logs_and_exec(&k);
    let status = Command::new("kill")
        .args(["-INT", &up.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(up.0.wait().unwrap().success());
}
