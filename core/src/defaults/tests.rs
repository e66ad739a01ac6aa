//! Exact before/after objects for every defaulter, the image pull policy rule, and two
//! properties over real manifests: defaulting is idempotent and keeps valid objects valid.

use std::path::PathBuf;

use super::*;
use crate::manifest;
use crate::validate::validate_object;

/// Removes the indentation common to every non-blank line.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse(yaml: &str) -> Object {
    let mut objects = manifest::parse_str("test.yaml", &dedent(yaml))
        .unwrap_or_else(|e| panic!("test manifest does not parse: {e}"));
    assert_eq!(objects.len(), 1);
    objects.remove(0)
}

/// Defaults `before` and checks it equals `after` exactly (compared as JSON, so a mismatch
/// prints readably), and that defaulting again changes nothing.
fn assert_defaults(before: &str, after: &str) {
    let mut object = parse(before);
    default_object(&mut object);
    let expected = parse(after);
    assert_eq!(
        serde_json::to_value(&object).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
    assert_eq!(object, expected);
    let mut again = object.clone();
    default_object(&mut again);
    assert_eq!(again, object, "defaulting is idempotent");
}

/// A pod using most of what upstream defaults.
const POD_BEFORE: &str = "
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers:
          - name: app
            image: nginx:1.27
            ports:
            - containerPort: 80
            env:
            - name: POD_NAME
              valueFrom:
                fieldRef: {fieldPath: metadata.name}
            resources:
              limits: {cpu: 500m, memory: 128Mi}
              requests: {cpu: 100u}
            livenessProbe:
              httpGet: {port: 80}
            readinessProbe:
              grpc: {port: 9000}
              periodSeconds: 5
            lifecycle:
              preStop:
                httpGet: {port: 80}
          initContainers:
          - name: init
            image: busybox
          volumes:
          - name: scratch
          - name: config
            configMap: {name: app-config}
          - name: creds
            secret: {secretName: app-secret}
          - name: host
            hostPath: {path: /var/log}
          - name: info
            downwardAPI:
              items:
              - path: labels
                fieldRef: {fieldPath: metadata.labels}
          - name: token
            projected:
              sources:
              - serviceAccountToken: {path: token}";

/// [`POD_BEFORE`] as upstream's v1 defaulters leave it.
const POD_AFTER: &str = "
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers:
          - name: app
            image: nginx:1.27
            imagePullPolicy: IfNotPresent
            terminationMessagePath: /dev/termination-log
            terminationMessagePolicy: File
            ports:
            - containerPort: 80
              protocol: TCP
            env:
            - name: POD_NAME
              valueFrom:
                fieldRef: {apiVersion: v1, fieldPath: metadata.name}
            resources:
              limits: {cpu: 500m, memory: 128Mi}
              requests: {cpu: 1m, memory: 128Mi}
            livenessProbe:
              httpGet: {path: /, port: 80, scheme: HTTP}
              timeoutSeconds: 1
              periodSeconds: 10
              successThreshold: 1
              failureThreshold: 3
            readinessProbe:
              grpc: {port: 9000, service: ''}
              timeoutSeconds: 1
              periodSeconds: 5
              successThreshold: 1
              failureThreshold: 3
            lifecycle:
              preStop:
                httpGet: {path: /, port: 80, scheme: HTTP}
          initContainers:
          - name: init
            image: busybox
            imagePullPolicy: Always
            terminationMessagePath: /dev/termination-log
            terminationMessagePolicy: File
          volumes:
          - name: scratch
            emptyDir: {}
          - name: config
            configMap: {name: app-config, defaultMode: 420}
          - name: creds
            secret: {secretName: app-secret, defaultMode: 420}
          - name: host
            hostPath: {path: /var/log, type: ''}
          - name: info
            downwardAPI:
              defaultMode: 420
              items:
              - path: labels
                fieldRef: {apiVersion: v1, fieldPath: metadata.labels}
          - name: token
            projected:
              defaultMode: 420
              sources:
              - serviceAccountToken: {path: token, expirationSeconds: 3600}
          restartPolicy: Always
          terminationGracePeriodSeconds: 30
          dnsPolicy: ClusterFirst
          schedulerName: default-scheduler
          enableServiceLinks: true
        ";

#[test]
fn pod_gets_upstream_v1_defaults() {
    assert_defaults(POD_BEFORE, POD_AFTER);
}

#[test]
fn explicit_values_are_kept() {
    let pod = "
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers:
          - name: app
            image: nginx
            imagePullPolicy: Never
            terminationMessagePath: /tmp/log
            terminationMessagePolicy: FallbackToLogsOnError
            ports:
            - {containerPort: 53, protocol: UDP}
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 0
          dnsPolicy: Default
          schedulerName: my-scheduler
          enableServiceLinks: false
        ";
    assert_defaults(pod, pod);
}

#[test]
fn host_network_makes_container_ports_host_ports() {
    assert_defaults(
        "
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          hostNetwork: true
          containers:
          - name: app
            image: nginx:1.27
            imagePullPolicy: IfNotPresent
            terminationMessagePath: /dev/termination-log
            terminationMessagePolicy: File
            ports:
            - {containerPort: 8080, protocol: TCP}
            - {containerPort: 9090, hostPort: 19090, protocol: TCP}
          restartPolicy: Always
          terminationGracePeriodSeconds: 30
          dnsPolicy: ClusterFirst
          schedulerName: default-scheduler
          enableServiceLinks: true
        ",
        "
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          hostNetwork: true
          containers:
          - name: app
            image: nginx:1.27
            imagePullPolicy: IfNotPresent
            terminationMessagePath: /dev/termination-log
            terminationMessagePolicy: File
            ports:
            - {containerPort: 8080, hostPort: 8080, protocol: TCP}
            - {containerPort: 9090, hostPort: 19090, protocol: TCP}
          restartPolicy: Always
          terminationGracePeriodSeconds: 30
          dnsPolicy: ClusterFirst
          schedulerName: default-scheduler
          enableServiceLinks: true
        ",
    );
}

#[test]
fn pull_policy_follows_the_image_tag() {
    let cases = [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.k8s.io/pause:3.10", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("[::1]:5000/app:latest", "Always"),
        ("my-registry:5000/team/app", "Always"),
        (
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "IfNotPresent",
        ),
        (
            "nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Always",
        ),
        // References ParseNormalizedNamed rejects have no tag, which is not "latest".
        ("NGINX", "IfNotPresent"),
        ("nginx@sha256:xyz", "IfNotPresent"),
        ("nginx:", "IfNotPresent"),
        ("nginx:-bad", "IfNotPresent"),
        ("-nginx", "IfNotPresent"),
        ("a//b", "IfNotPresent"),
        ("", "IfNotPresent"),
        (
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "IfNotPresent",
        ),
        ("team/my__app:latest", "Always"),
        ("team/my___app", "IfNotPresent"),
        ("team/my---app", "Always"),
    ];
    for (image, policy) in cases {
        assert_eq!(pull_policy_for(image), policy, "{image:?}");
    }
}

#[test]
fn templates_get_pod_spec_defaults_but_not_pod_only_ones() {
    assert_defaults(
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: app
                image: nginx:1.27
                resources:
                  limits: {cpu: '1'}
        ",
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: app
                image: nginx:1.27
                imagePullPolicy: IfNotPresent
                terminationMessagePath: /dev/termination-log
                terminationMessagePolicy: File
                resources:
                  limits: {cpu: '1'}
              restartPolicy: Always
              terminationGracePeriodSeconds: 30
              dnsPolicy: ClusterFirst
              schedulerName: default-scheduler
          strategy:
            type: RollingUpdate
            rollingUpdate: {maxUnavailable: 25%, maxSurge: 25%}
          revisionHistoryLimit: 10
          progressDeadlineSeconds: 600
        ",
    );
}

/// The defaulted pod template every workload test below expects.
const TEMPLATE_SPEC: &str = "
              containers:
              - name: app
                image: nginx:1.27
                imagePullPolicy: IfNotPresent
                terminationMessagePath: /dev/termination-log
                terminationMessagePolicy: File
              restartPolicy: Always
              terminationGracePeriodSeconds: 30
              dnsPolicy: ClusterFirst
              schedulerName: default-scheduler";

#[test]
fn workloads_get_replicas_strategies_and_history_limits() {
    assert_defaults(
        "
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: app, image: 'nginx:1.27'}]
        ",
        &format!(
            "
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {{name: web}}
        spec:
          replicas: 1
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:{TEMPLATE_SPEC}
        "
        ),
    );
    assert_defaults(
        "
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: app, image: 'nginx:1.27'}]
        ",
        &format!(
            "
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {{name: agent}}
        spec:
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:{TEMPLATE_SPEC}
          updateStrategy:
            type: RollingUpdate
            rollingUpdate: {{maxUnavailable: 1, maxSurge: 0}}
          revisionHistoryLimit: 10
        "
        ),
    );
    // Recreate and OnDelete strategies get no rolling-update parameters.
    let mut recreate = parse(
        "
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          strategy: {type: Recreate}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: app, image: 'nginx:1.27'}]
        ",
    );
    default_object(&mut recreate);
    let Object::Deployment(d) = &recreate else {
        panic!()
    };
    assert_eq!(d.spec.strategy.rolling_update, None);
}

#[test]
fn replication_controller_selector_and_labels_come_from_the_template() {
    assert_defaults(
        "
        apiVersion: v1
        kind: ReplicationController
        metadata: {name: web}
        spec:
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: app, image: 'nginx:1.27'}]
        ",
        &format!(
            "
        apiVersion: v1
        kind: ReplicationController
        metadata: {{name: web, labels: {{app: web}}}}
        spec:
          replicas: 1
          selector: {{app: web}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:{TEMPLATE_SPEC}
        "
        ),
    );
}

#[test]
fn services_get_type_affinity_ports_and_traffic_policies() {
    assert_defaults(
        "
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports:
          - port: 80
          - {name: named, port: 8080, targetPort: http}
          sessionAffinityConfig:
            clientIP: {timeoutSeconds: 60}
        ",
        "
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: ClusterIP
          selector: {app: web}
          ports:
          - {port: 80, protocol: TCP, targetPort: 80}
          - {name: named, port: 8080, protocol: TCP, targetPort: http}
          sessionAffinity: None
          internalTrafficPolicy: Cluster
        ",
    );
    assert_defaults(
        "
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: LoadBalancer
          sessionAffinity: ClientIP
          ports:
          - {port: 443, protocol: UDP, targetPort: 0}
        status:
          loadBalancer:
            ingress:
            - ip: 192.0.2.7
            - hostname: lb.example.com
        ",
        "
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: LoadBalancer
          sessionAffinity: ClientIP
          sessionAffinityConfig:
            clientIP: {timeoutSeconds: 10800}
          ports:
          - {port: 443, protocol: UDP, targetPort: 443}
          externalTrafficPolicy: Cluster
          internalTrafficPolicy: Cluster
          allocateLoadBalancerNodePorts: true
        status:
          loadBalancer:
            ingress:
            - {ip: 192.0.2.7, ipMode: VIP}
            - hostname: lb.example.com
        ",
    );
    // ExternalName services get no traffic policies; a ClusterIP with external IPs is
    // externally accessible.
    assert_defaults(
        "
        apiVersion: v1
        kind: Service
        metadata: {name: db}
        spec: {type: ExternalName, externalName: db.example.com}
        ",
        "
        apiVersion: v1
        kind: Service
        metadata: {name: db}
        spec: {type: ExternalName, externalName: db.example.com, sessionAffinity: None}
        ",
    );
    assert_defaults(
        "
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          externalIPs: [192.0.2.10]
          ports: [{port: 80}]
        ",
        "
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: ClusterIP
          externalIPs: [192.0.2.10]
          ports: [{port: 80, protocol: TCP, targetPort: 80}]
          sessionAffinity: None
          externalTrafficPolicy: Cluster
          internalTrafficPolicy: Cluster
        ",
    );
}

#[test]
fn config_kinds_get_their_defaults() {
    assert_defaults(
        "
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        stringData: {password: hunter2}
        ",
        "
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        stringData: {password: hunter2}
        type: Opaque
        ",
    );
    assert_defaults(
        "
        apiVersion: v1
        kind: Namespace
        metadata: {name: dev}
        ",
        "
        apiVersion: v1
        kind: Namespace
        metadata:
          name: dev
          labels: {kubernetes.io/metadata.name: dev}
        status: {phase: Active}
        ",
    );
    assert_defaults(
        "
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web}
        subsets:
        - addresses: [{ip: 10.244.0.5}]
          ports: [{port: 80}]
        ",
        "
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web}
        subsets:
        - addresses: [{ip: 10.244.0.5}]
          ports: [{port: 80, protocol: TCP}]
        ",
    );
}

#[test]
fn storage_and_node_kinds_get_their_defaults() {
    assert_defaults(
        "
        apiVersion: v1
        kind: PersistentVolume
        metadata: {name: pv0}
        spec:
          capacity: {storage: 1Gi}
          accessModes: [ReadWriteOnce]
          hostPath: {path: /data}
        ",
        "
        apiVersion: v1
        kind: PersistentVolume
        metadata: {name: pv0}
        spec:
          capacity: {storage: 1Gi}
          accessModes: [ReadWriteOnce]
          hostPath: {path: /data, type: ''}
          persistentVolumeReclaimPolicy: Retain
          volumeMode: Filesystem
        status: {phase: Pending}
        ",
    );
    assert_defaults(
        "
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
        ",
        "
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
          volumeMode: Filesystem
        status: {phase: Pending}
        ",
    );
    assert_defaults(
        "
        apiVersion: v1
        kind: Node
        metadata: {name: worker-1}
        status:
          capacity: {cpu: '4', memory: 8Gi, pods: '110'}
        ",
        "
        apiVersion: v1
        kind: Node
        metadata: {name: worker-1}
        status:
          capacity: {cpu: '4', memory: 8Gi, pods: '110'}
          allocatable: {cpu: '4', memory: 8Gi, pods: '110'}
        ",
    );
}

#[test]
fn in_tree_volume_sources_get_upstream_defaults() {
    let mut object = parse(
        "
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers: [{name: app, image: 'nginx:1.27'}]
          volumes:
          - name: a
            iscsi: {targetPortal: '10.0.0.1:3260', iqn: 'iqn.2001-04.com.example:storage', lun: 0}
          - name: b
            rbd: {monitors: ['10.0.0.2:6789'], image: foo}
          - name: c
            azureDisk: {diskName: d, diskURI: 'https://example/d.vhd'}
          - name: d
            scaleIO: {gateway: 'https://gw', system: s, secretRef: {name: s}}
          - name: e
            ephemeral:
              volumeClaimTemplate:
                spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
        ",
    );
    default_object(&mut object);
    let json = serde_json::to_value(&object).unwrap();
    let volumes = &json["spec"]["volumes"];
    assert_eq!(volumes[0]["iscsi"]["iscsiInterface"], "default");
    assert_eq!(volumes[1]["rbd"]["pool"], "rbd");
    assert_eq!(volumes[1]["rbd"]["user"], "admin");
    assert_eq!(volumes[1]["rbd"]["keyring"], "/etc/ceph/keyring");
    assert_eq!(volumes[2]["azureDisk"]["cachingMode"], "ReadWrite");
    assert_eq!(volumes[2]["azureDisk"]["kind"], "Shared");
    assert_eq!(volumes[2]["azureDisk"]["fsType"], "ext4");
    assert_eq!(volumes[2]["azureDisk"]["readOnly"], false);
    assert_eq!(volumes[3]["scaleIO"]["storageMode"], "ThinProvisioned");
    assert_eq!(volumes[3]["scaleIO"]["fsType"], "xfs");
    assert_eq!(
        volumes[4]["ephemeral"]["volumeClaimTemplate"]["spec"]["volumeMode"],
        "Filesystem"
    );
    for volume in volumes.as_array().unwrap() {
        assert!(volume.get("emptyDir").is_none(), "{volume}");
    }
}

#[test]
fn a_new_namespace_is_active_with_the_kubernetes_finalizer() {
    let mut object = parse(
        "
        apiVersion: v1
        kind: Namespace
        metadata: {name: dev}
        spec: {finalizers: [example.com/cleanup]}
        status: {phase: Terminating}
        ",
    );
    prepare_for_create(&mut object);
    let Object::Namespace(ns) = &object else {
        panic!()
    };
    assert_eq!(ns.spec.finalizers, ["example.com/cleanup", "kubernetes"]);
    assert_eq!(ns.status.phase.as_deref(), Some("Active"));
    // Defaulting alone never brings the finalizer back (it may be removed over the
    // namespace's life).
    let mut finalized = parse(
        "
        apiVersion: v1
        kind: Namespace
        metadata: {name: dev}
        status: {phase: Terminating}
        ",
    );
    default_object(&mut finalized);
    let Object::Namespace(ns) = &finalized else {
        panic!()
    };
    assert!(ns.spec.finalizers.is_empty());
    assert_eq!(ns.status.phase.as_deref(), Some("Terminating"));
}

#[test]
fn a_new_pod_is_pending_with_its_qos_class_and_sent_status_is_dropped() {
    let pod = |resources: &str| {
        parse(&format!(
            "
            apiVersion: v1
            kind: Pod
            metadata: {{name: web}}
            spec:
              containers:
              - name: web
                image: nginx
                resources: {resources}
            status: {{phase: Running, podIP: 10.0.0.9}}
            "
        ))
    };
    let created = |resources: &str| {
        let mut object = pod(resources);
        prepare_for_create(&mut object);
        let Object::Pod(pod) = object else { panic!() };
        pod.status
    };
    let best_effort = created("{}");
    assert_eq!(
        (
            best_effort.phase.as_deref(),
            best_effort.qos_class.as_deref(),
            best_effort.pod_ip
        ),
        (Some("Pending"), Some("BestEffort"), None)
    );
    let qos = |resources: &str| created(resources).qos_class.unwrap();
    assert_eq!(qos("{limits: {cpu: 500m, memory: 128Mi}}"), "Guaranteed");
    assert_eq!(
        qos("{requests: {cpu: 500m, memory: 128Mi}, limits: {cpu: 500m, memory: 128Mi}}"),
        "Guaranteed"
    );
    assert_eq!(
        qos("{requests: {cpu: 250m}, limits: {cpu: 500m, memory: 128Mi}}"),
        "Burstable"
    );
    assert_eq!(qos("{requests: {memory: 64Mi}}"), "Burstable");
    // Only cpu and memory count (upstream supportedQoSComputeResources).
    assert_eq!(qos("{requests: {ephemeral-storage: 1Gi}}"), "BestEffort");
}

#[test]
fn a_new_workload_drops_the_status_it_was_sent() {
    let mut object = parse(
        "
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: nginx}]}
        status: {replicas: 3, readyReplicas: 3}
        ",
    );
    prepare_for_create(&mut object);
    let Object::ReplicaSet(rs) = object else {
        panic!()
    };
    assert_eq!(rs.status, crate::object::ReplicaSetStatus::default());
}

/// The conformance corpus beside the repository, when it is there.
fn corpus_files() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples"
    ))];
    let shared = std::env::var_os("SKIFF_SHARED_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    );
    dirs.push(shared.join("conformance").join("manifests"));
    let mut files = Vec::new();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn real_manifests_stay_valid_and_default_idempotently() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in corpus_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        for document in manifest::parse(&path.display().to_string(), &text).documents {
            let mut object = document.object;
            if !validate_object(&object).is_empty() {
                continue;
            }
            checked += 1;
            prepare_for_create(&mut object);
            default_object(&mut object);
            for error in validate_object(&object) {
                failures.push(format!("{}: {error}", path.display()));
            }
            let mut again = object.clone();
            default_object(&mut again);
            assert_eq!(again, object, "{}", path.display());
        }
    }
    assert!(checked >= 5, "only {checked} documents");
    assert!(
        failures.is_empty(),
        "defaulting made valid manifests invalid:\n{}",
        failures.join("\n")
    );
}
