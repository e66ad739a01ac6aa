//! Admission and allocation: exact outcomes of each plugin (NamespaceLifecycle, ServiceAccount,
//! Priority, DefaultTolerationSeconds), the defaults a created pod carries, and the Service IP
//! and node port allocators (order, requests, conflicts, release and reuse, updates,
//! concurrent creates, a reopened store).

use std::collections::BTreeSet;
use std::sync::Arc;

use skiff_core::clock::ManualClock;
use skiff_core::event::Actor;
use skiff_core::object::{
    Container, IntOrString, LocalObjectReference, Namespace, Object, ObjectMeta, ObjectReference,
    Pod, Service, ServiceAccount, ServicePort, ServiceSpec, Toleration, info,
};
use skiff_store::apiserver::{ApiError, ApiServer, DeleteOptions, Deleted, Reason};
use skiff_store::{Backing, ListOptions, Store};

const START_UNIX_SECONDS: u64 = 1_700_000_000;

fn new_server(backing: Backing, seed: u64) -> ApiServer {
    let clock = ManualClock::new(START_UNIX_SECONDS);
    let store = Store::open(backing, Arc::new(clock.clone())).unwrap();
    ApiServer::new(store, Arc::new(clock), seed)
}

async fn server() -> ApiServer {
    let api = new_server(Backing::Memory, 7);
    api.bootstrap().await.unwrap();
    api
}

fn admin() -> Actor {
    Actor::new("admin")
}

fn pod(name: &str) -> Pod {
    Pod::new(name, vec![Container::new("app", "nginx:1.27")])
}

fn namespace(name: &str) -> Object {
    Namespace {
        metadata: ObjectMeta::named(name),
        ..Namespace::default()
    }
    .into()
}

fn service(name: &str, spec: ServiceSpec) -> Object {
    Service {
        metadata: ObjectMeta::named(name),
        spec,
        ..Service::default()
    }
    .into()
}

fn port(port: i32) -> ServicePort {
    ServicePort {
        port,
        ..ServicePort::default()
    }
}

fn cluster_ip_spec() -> ServiceSpec {
    ServiceSpec {
        selector: [("app".to_owned(), "web".to_owned())].into(),
        ports: vec![port(80)],
        ..ServiceSpec::default()
    }
}

fn node_port_spec(node_port: Option<i32>) -> ServiceSpec {
    ServiceSpec {
        type_: Some("NodePort".to_owned()),
        ports: vec![ServicePort {
            node_port,
            ..port(80)
        }],
        ..cluster_ip_spec()
    }
}

fn requesting(ip: &str) -> ServiceSpec {
    ServiceSpec {
        cluster_ip: Some(ip.to_owned()),
        ..cluster_ip_spec()
    }
}

fn status_of(result: Result<impl std::fmt::Debug, ApiError>) -> (u16, String) {
    let err = result.unwrap_err();
    let status = err.status().expect("a rejection");
    (status.code(), status.message.clone())
}

fn as_pod(object: &Object) -> &Pod {
    let Object::Pod(pod) = object else {
        panic!("not a pod: {object:?}")
    };
    pod
}

fn as_service(object: &Object) -> &Service {
    let Object::Service(service) = object else {
        panic!("not a service: {object:?}")
    };
    service
}

fn cluster_ip_of(object: &Object) -> String {
    as_service(object).spec.cluster_ip.clone().unwrap()
}

fn node_ports_of(object: &Object) -> Vec<i32> {
    as_service(object)
        .spec
        .ports
        .iter()
        .map(|p| p.node_port.unwrap_or(0))
        .collect()
}

/// Allocation keys under `prefix` and their owners.
fn allocations(api: &ApiServer, prefix: &str) -> Vec<(String, String)> {
    api.store()
        .list(prefix, &ListOptions::default())
        .unwrap()
        .entries
        .into_iter()
        .map(|entry| {
            let owner = match entry.stored.value {
                skiff_store::codec::StoredValue::Raw(bytes) => String::from_utf8(bytes).unwrap(),
                other @ skiff_store::codec::StoredValue::Object(_) => {
                    panic!("allocation key {} holds {other:?}", entry.key)
                }
            };
            (entry.key.trim_start_matches(prefix).to_owned(), owner)
        })
        .collect()
}

fn ip_allocations(api: &ApiServer) -> Vec<(String, String)> {
    allocations(api, "/ranges/serviceips/")
}

fn port_allocations(api: &ApiServer) -> Vec<(String, String)> {
    allocations(api, "/ranges/servicenodeports/")
}

fn owner(name: &str) -> String {
    format!("/registry/services/specs/default/{name}")
}

async fn delete(
    api: &ApiServer,
    info: &skiff_core::object::KindInfo,
    ns: &str,
    name: &str,
) -> Result<Deleted, ApiError> {
    api.delete(&admin(), info, ns, name, &DeleteOptions::default())
        .await
}

// ---------------------------------------------------------------------------------------------
// Bootstrap
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bootstrap_creates_the_system_namespaces_accounts_and_kubernetes_service_once() {
    let api = server().await;
    let head = api.store().status().unwrap().revision;
    api.bootstrap().await.unwrap();
    assert_eq!(
        api.store().status().unwrap().revision,
        head,
        "a second bootstrap writes nothing"
    );
    let names: Vec<String> = api
        .list(&info::NAMESPACE, None, &ListOptions::default())
        .unwrap()
        .items
        .iter()
        .map(|o| o.metadata().name_or_empty().to_owned())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    for name in &names {
        let Object::Namespace(ns) = api.get(&info::NAMESPACE, "", name).unwrap() else {
            panic!()
        };
        assert_eq!(ns.spec.finalizers, ["kubernetes"]);
        assert_eq!(ns.status.phase.as_deref(), Some("Active"));
        assert_eq!(
            ns.metadata.labels.get("kubernetes.io/metadata.name"),
            Some(name)
        );
        api.get(&info::SERVICE_ACCOUNT, name, "default").unwrap();
    }
    let kubernetes = api.get(&info::SERVICE, "default", "kubernetes").unwrap();
    let spec = &as_service(&kubernetes).spec;
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
    assert_eq!(spec.cluster_ips, ["10.96.0.1"]);
    assert_eq!(spec.ip_families, ["IPv4"]);
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    assert_eq!(spec.ports[0].target_port, Some(IntOrString::Int(6443)));
    assert_eq!(
        ip_allocations(&api),
        [("10.96.0.1".to_owned(), owner("kubernetes"))]
    );
}

// ---------------------------------------------------------------------------------------------
// NamespaceLifecycle
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn objects_need_their_namespace() {
    let api = server().await;
    assert_eq!(
        status_of(api.create(&admin(), Some("dev"), pod("web").into()).await),
        (404, "namespaces \"dev\" not found".into())
    );
    api.create(&admin(), None, namespace("dev")).await.unwrap();
    // The namespace comes with its default ServiceAccount, so pods are admitted at once.
    api.get(&info::SERVICE_ACCOUNT, "dev", "default").unwrap();
    let created = api
        .create(&admin(), Some("dev"), pod("web").into())
        .await
        .unwrap();
    assert_eq!(created.metadata().namespace.as_deref(), Some("dev"));
}

#[tokio::test]
async fn a_terminating_namespace_takes_no_new_content() {
    let api = server().await;
    api.create(&admin(), None, namespace("dev")).await.unwrap();
    let web = api
        .create(&admin(), Some("dev"), pod("web").into())
        .await
        .unwrap();
    let Deleted::Pending(terminating) = delete(&api, &info::NAMESPACE, "", "dev").await.unwrap()
    else {
        panic!("a namespace waits for its finalizers")
    };
    let Object::Namespace(ns) = &terminating else {
        panic!()
    };
    assert_eq!(ns.status.phase.as_deref(), Some("Terminating"));
    assert!(ns.metadata.deletion_timestamp.is_some());

    let err = api
        .create(&admin(), Some("dev"), pod("late").into())
        .await
        .unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(
        (status.code(), status.reason, status.message.as_str()),
        (
            403,
            Reason::Forbidden,
            "pods \"late\" is forbidden: unable to create new content in namespace dev because it is being terminated"
        )
    );
    assert_eq!(status.causes[0].reason, "NamespaceTerminating");
    assert_eq!(status.causes[0].field, "metadata.namespace");
    assert_eq!(
        status.causes[0].message,
        "namespace dev is being terminated"
    );

    // Existing content may still change.
    let mut relabeled = web;
    relabeled
        .metadata_mut()
        .labels
        .insert("tier".into(), "web".into());
    api.update(&admin(), relabeled).await.unwrap();

    // Deleting again before the namespace controller is done is a conflict.
    assert_eq!(
        status_of(delete(&api, &info::NAMESPACE, "", "dev").await),
        (409, "Operation cannot be fulfilled on namespaces \"dev\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.".into())
    );
    // The namespace controller finalizes (clears spec.finalizers): the namespace is gone.
    let mut finalized = api.get(&info::NAMESPACE, "", "dev").unwrap();
    if let Object::Namespace(ns) = &mut finalized {
        ns.spec.finalizers.clear();
    }
    api.update(&admin(), finalized).await.unwrap();
    assert_eq!(
        status_of(api.get(&info::NAMESPACE, "", "dev")),
        (404, "namespaces \"dev\" not found".into())
    );
}

#[tokio::test]
async fn immortal_namespaces_cannot_be_deleted() {
    let api = server().await;
    for name in ["default", "kube-system", "kube-public"] {
        assert_eq!(
            status_of(delete(&api, &info::NAMESPACE, "", name).await),
            (
                403,
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
            )
        );
    }
    // kube-node-lease is created at start-up but is not immortal upstream.
    assert!(matches!(
        delete(&api, &info::NAMESPACE, "", "kube-node-lease")
            .await
            .unwrap(),
        Deleted::Pending(_)
    ));
}

// ---------------------------------------------------------------------------------------------
// ServiceAccount, Priority, DefaultTolerationSeconds, and a pod's defaults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_created_pod_carries_upstream_defaults_and_admission_fields() {
    let api = server().await;
    let created = api.create(&admin(), None, pod("web").into()).await.unwrap();
    let spec = serde_json::to_value(&as_pod(&created).spec).unwrap();
    assert_eq!(
        spec,
        serde_json::json!({
            "containers": [{
                "name": "app",
                "image": "nginx:1.27",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "schedulerName": "default-scheduler",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
        })
    );
}

#[tokio::test]
async fn pods_need_an_existing_service_account() {
    let api = server().await;
    api.create(&admin(), None, namespace("dev")).await.unwrap();
    let mut builder = pod("web");
    builder.spec.service_account_name = Some("builder".into());
    assert_eq!(
        status_of(api.create(&admin(), Some("dev"), builder.clone().into()).await),
        (403, "pods \"web\" is forbidden: error looking up service account dev/builder: serviceaccount \"builder\" not found".into())
    );
    let account = ServiceAccount {
        metadata: ObjectMeta::named("builder"),
        image_pull_secrets: vec![LocalObjectReference {
            name: Some("registry".into()),
        }],
        ..ServiceAccount::default()
    };
    api.create(&admin(), Some("dev"), account.into())
        .await
        .unwrap();
    let created = api
        .create(&admin(), Some("dev"), builder.into())
        .await
        .unwrap();
    let spec = &as_pod(&created).spec;
    assert_eq!(spec.service_account_name.as_deref(), Some("builder"));
    assert_eq!(spec.image_pull_secrets[0].name.as_deref(), Some("registry"));

    // A generated name is reported by its prefix, as upstream does before naming.
    let mut generated = pod("");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("job-".into());
    generated.spec.service_account_name = Some("ghost".into());
    assert_eq!(
        status_of(api.create(&admin(), Some("dev"), generated.into()).await).1,
        "pods \"job-\" is forbidden: error looking up service account dev/ghost: serviceaccount \"ghost\" not found"
    );
}

#[tokio::test]
async fn accounts_that_enforce_mountable_secrets_limit_pods_to_theirs() {
    let api = server().await;
    let account = ServiceAccount {
        metadata: ObjectMeta {
            annotations: [(
                "kubernetes.io/enforce-mountable-secrets".to_owned(),
                "true".to_owned(),
            )]
            .into(),
            ..ObjectMeta::named("locked")
        },
        secrets: vec![ObjectReference {
            name: Some("allowed".into()),
            ..ObjectReference::default()
        }],
        ..ServiceAccount::default()
    };
    api.create(&admin(), None, account.into()).await.unwrap();
    let using = |secret: &str| {
        let mut p = pod("web");
        p.spec.service_account_name = Some("locked".into());
        p.spec.volumes = vec![skiff_core::object::Volume {
            name: "creds".into(),
            secret: Some(skiff_core::object::SecretVolumeSource {
                secret_name: Some(secret.into()),
                ..Default::default()
            }),
            ..Default::default()
        }];
        p
    };
    assert_eq!(
        status_of(api.create(&admin(), None, using("other").into()).await),
        (403, "pods \"web\" is forbidden: volume with secret.secretName=\"other\" is not allowed because service account locked does not reference that secret".into())
    );
    api.create(&admin(), None, using("allowed").into())
        .await
        .unwrap();
}

#[tokio::test]
async fn mirror_pods_may_not_reference_accounts() {
    let api = server().await;
    let mut mirror = pod("static-web");
    mirror
        .metadata
        .annotations
        .insert("kubernetes.io/config.mirror".into(), "hash".into());
    mirror.spec.service_account_name = Some("default".into());
    assert_eq!(
        status_of(api.create(&admin(), None, mirror.clone().into()).await),
        (
            403,
            "pods \"static-web\" is forbidden: a mirror pod may not reference service accounts"
                .into()
        )
    );
    mirror.spec.service_account_name = None;
    let created = api.create(&admin(), None, mirror.into()).await.unwrap();
    assert_eq!(as_pod(&created).spec.service_account_name, None);
}

#[tokio::test]
async fn priority_comes_from_the_priority_class() {
    let api = server().await;
    let mut critical = pod("dns");
    critical.spec.priority_class_name = Some("system-cluster-critical".into());
    let created = api.create(&admin(), None, critical.into()).await.unwrap();
    assert_eq!(as_pod(&created).spec.priority, Some(2_000_000_000));
    let mut gold = pod("web");
    gold.spec.priority_class_name = Some("gold".into());
    assert_eq!(
        status_of(api.create(&admin(), None, gold.into()).await),
        (
            403,
            "pods \"web\" is forbidden: no PriorityClass with name gold was found".into()
        )
    );
    let mut preset = pod("web");
    preset.spec.priority = Some(5);
    assert_eq!(
        status_of(api.create(&admin(), None, preset.into()).await).1,
        "pods \"web\" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name"
    );
    let mut never = pod("web");
    never.spec.preemption_policy = Some("Never".into());
    assert_eq!(
        status_of(api.create(&admin(), None, never.into()).await).1,
        "pods \"web\" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name"
    );
}

#[tokio::test]
async fn default_tolerations_are_added_unless_already_tolerated() {
    let api = server().await;
    let tolerations = |object: &Object| -> Vec<(Option<String>, Option<i64>)> {
        as_pod(object)
            .spec
            .tolerations
            .iter()
            .map(|t| (t.key.clone(), t.toleration_seconds))
            .collect()
    };
    let mut patient = pod("patient");
    patient.spec.tolerations = vec![Toleration {
        key: Some("node.kubernetes.io/not-ready".into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: Some(60),
        ..Toleration::default()
    }];
    let created = api.create(&admin(), None, patient.into()).await.unwrap();
    assert_eq!(
        tolerations(&created),
        [
            (Some("node.kubernetes.io/not-ready".into()), Some(60)),
            (Some("node.kubernetes.io/unreachable".into()), Some(300)),
        ]
    );
    // An empty key with Exists tolerates every taint: nothing is added.
    let mut everything = pod("everything");
    everything.spec.tolerations = vec![Toleration {
        operator: Some("Exists".into()),
        ..Toleration::default()
    }];
    let created = api.create(&admin(), None, everything.into()).await.unwrap();
    assert_eq!(tolerations(&created), [(None, None)]);
    // Updates are admitted too: tolerations dropped by a client come back.
    let mut stripped = api.get(&info::POD, "default", "patient").unwrap();
    if let Object::Pod(p) = &mut stripped {
        p.spec.tolerations.clear();
    }
    let updated = api.update(&admin(), stripped).await.unwrap();
    assert_eq!(
        tolerations(&updated),
        [
            (Some("node.kubernetes.io/not-ready".into()), Some(300)),
            (Some("node.kubernetes.io/unreachable".into()), Some(300)),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Service IPs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cluster_ips_are_allocated_in_order_from_the_dynamic_band() {
    let api = server().await;
    let mut ips = Vec::new();
    for name in ["a", "b", "c"] {
        let created = api
            .create(&admin(), None, service(name, cluster_ip_spec()))
            .await
            .unwrap();
        let spec = &as_service(&created).spec;
        assert_eq!(spec.cluster_ips, [spec.cluster_ip.clone().unwrap()]);
        assert_eq!(spec.ip_families, ["IPv4"]);
        assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.ports[0].target_port, Some(IntOrString::Int(80)));
        ips.push(cluster_ip_of(&created));
    }
    assert_eq!(ips, ["10.96.1.1", "10.96.1.2", "10.96.1.3"]);
    assert_eq!(
        ip_allocations(&api),
        [
            ("10.96.0.1".to_owned(), owner("kubernetes")),
            ("10.96.1.1".to_owned(), owner("a")),
            ("10.96.1.2".to_owned(), owner("b")),
            ("10.96.1.3".to_owned(), owner("c")),
        ]
    );
}

#[tokio::test]
async fn requested_cluster_ips_are_honoured_once() {
    let api = server().await;
    let dns = api
        .create(
            &admin(),
            None,
            service("kube-dns", requesting("10.96.0.10")),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip_of(&dns), "10.96.0.10");
    let err = api
        .create(&admin(), None, service("other", requesting("10.96.0.10")))
        .await
        .unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(
        (status.code(), status.message.as_str()),
        (
            422,
            "Service \"other\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
        )
    );
    assert_eq!(status.causes[0].field, "spec.clusterIPs");
    for (ip, shown) in [
        ("10.0.0.5", "10.0.0.5"),
        ("10.96.0.0", "10.96.0.0"),
        ("10.111.255.255", "10.111.255.255"),
    ] {
        assert_eq!(
            status_of(
                api.create(&admin(), None, service("other", requesting(ip)))
                    .await
            ),
            (
                422,
                format!(
                    "Service \"other\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: the provided IP ({shown}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
                )
            )
        );
    }
    // The last usable address is in range.
    let last = api
        .create(
            &admin(),
            None,
            service("last", requesting("10.111.255.254")),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip_of(&last), "10.111.255.254");
    assert_eq!(
        status_of(api.create(&admin(), None, service("v6", requesting("fd00::10"))).await),
        (422, "Service \"v6\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"fd00::10\"}: IPv6 is not configured on this cluster".into())
    );
    // Nothing was recorded by the refused creates.
    assert_eq!(ip_allocations(&api).len(), 3);
}

#[tokio::test]
async fn headless_and_external_name_services_get_no_address() {
    let api = server().await;
    let headless = api
        .create(&admin(), None, service("db", requesting("None")))
        .await
        .unwrap();
    let spec = &as_service(&headless).spec;
    assert_eq!(spec.cluster_ips, ["None"]);
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    // Headless without a selector is the upstream special case: dual families requested.
    let selectorless = api
        .create(
            &admin(),
            None,
            service(
                "ext-db",
                ServiceSpec {
                    selector: std::collections::BTreeMap::default(),
                    ..requesting("None")
                },
            ),
        )
        .await
        .unwrap();
    let spec = &as_service(&selectorless).spec;
    assert_eq!(spec.ip_family_policy.as_deref(), Some("RequireDualStack"));
    assert_eq!(spec.ip_families, ["IPv4", "IPv6"]);
    let external = api
        .create(
            &admin(),
            None,
            service(
                "mail",
                ServiceSpec {
                    type_: Some("ExternalName".into()),
                    external_name: Some("mail.example.com".into()),
                    ..ServiceSpec::default()
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(as_service(&external).spec.cluster_ip, None);
    assert_eq!(ip_allocations(&api).len(), 1, "only the kubernetes service");
    assert_eq!(
        status_of(
            api.create(
                &admin(),
                None,
                service(
                    "dual",
                    ServiceSpec {
                        ip_family_policy: Some("RequireDualStack".into()),
                        ..cluster_ip_spec()
                    }
                )
            )
            .await
        ),
        (422, "Service \"dual\" is invalid: spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services".into())
    );
}

#[tokio::test]
async fn deleting_a_service_releases_its_address_for_reuse() {
    let api = server().await;
    for name in ["a", "b"] {
        api.create(&admin(), None, service(name, cluster_ip_spec()))
            .await
            .unwrap();
    }
    let Deleted::Gone(_) = delete(&api, &info::SERVICE, "default", "a").await.unwrap() else {
        panic!("a service is deleted at once")
    };
    assert_eq!(
        ip_allocations(&api),
        [
            ("10.96.0.1".to_owned(), owner("kubernetes")),
            ("10.96.1.2".to_owned(), owner("b")),
        ]
    );
    let c = api
        .create(&admin(), None, service("c", cluster_ip_spec()))
        .await
        .unwrap();
    assert_eq!(
        cluster_ip_of(&c),
        "10.96.1.1",
        "the lowest free address again"
    );
    // A Service held by a finalizer keeps its address until it is really gone.
    let mut held = service("held", requesting("10.96.0.20"));
    held.metadata_mut()
        .finalizers
        .push("example.com/keep".into());
    api.create(&admin(), None, held).await.unwrap();
    let Deleted::Pending(pending) = delete(&api, &info::SERVICE, "default", "held")
        .await
        .unwrap()
    else {
        panic!("a finalizer holds it")
    };
    assert!(
        ip_allocations(&api)
            .iter()
            .any(|(ip, _)| ip == "10.96.0.20")
    );
    let mut released = pending;
    released.metadata_mut().finalizers.clear();
    api.update(&admin(), released).await.unwrap();
    assert!(
        !ip_allocations(&api)
            .iter()
            .any(|(ip, _)| ip == "10.96.0.20")
    );
    api.store().verify().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Node ports
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn node_ports_are_allocated_requested_refused_and_released() {
    let api = server().await;
    let first = api
        .create(&admin(), None, service("first", node_port_spec(None)))
        .await
        .unwrap();
    let second = api
        .create(&admin(), None, service("second", node_port_spec(None)))
        .await
        .unwrap();
    assert_eq!(node_ports_of(&first), [30086]);
    assert_eq!(node_ports_of(&second), [30087]);
    assert_eq!(
        as_service(&first).spec.external_traffic_policy.as_deref(),
        Some("Cluster")
    );
    let pinned = api
        .create(
            &admin(),
            None,
            service("pinned", node_port_spec(Some(30080))),
        )
        .await
        .unwrap();
    assert_eq!(node_ports_of(&pinned), [30080]);
    assert_eq!(
        status_of(
            api.create(&admin(), None, service("again", node_port_spec(Some(30080))))
                .await
        ),
        (422, "Service \"again\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated".into())
    );
    assert_eq!(
        status_of(
            api.create(&admin(), None, service("low", node_port_spec(Some(8080))))
                .await
        ),
        (422, "Service \"low\" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767".into())
    );
    assert_eq!(
        port_allocations(&api),
        [
            ("30080".to_owned(), owner("pinned")),
            ("30086".to_owned(), owner("first")),
            ("30087".to_owned(), owner("second")),
        ]
    );
    delete(&api, &info::SERVICE, "default", "first")
        .await
        .unwrap();
    let reused = api
        .create(&admin(), None, service("third", node_port_spec(None)))
        .await
        .unwrap();
    assert_eq!(node_ports_of(&reused), [30086]);
    // TCP and UDP on the same port share one node port (upstream initNodePorts).
    let dns = ServiceSpec {
        ports: vec![
            ServicePort {
                name: Some("dns".into()),
                protocol: Some("UDP".into()),
                ..port(53)
            },
            ServicePort {
                name: Some("dns-tcp".into()),
                protocol: Some("TCP".into()),
                ..port(53)
            },
        ],
        ..node_port_spec(None)
    };
    let dns = api
        .create(&admin(), None, service("dns", dns))
        .await
        .unwrap();
    assert_eq!(node_ports_of(&dns), [30088, 30088]);
}

#[tokio::test]
async fn load_balancers_get_node_ports_and_health_check_ports() {
    let api = server().await;
    let lb = |allocate: Option<bool>, policy: Option<&str>| ServiceSpec {
        type_: Some("LoadBalancer".into()),
        allocate_load_balancer_node_ports: allocate,
        external_traffic_policy: policy.map(Into::into),
        ..cluster_ip_spec()
    };
    let plain = api
        .create(&admin(), None, service("plain", lb(None, None)))
        .await
        .unwrap();
    assert_eq!(node_ports_of(&plain), [30086]);
    assert_eq!(
        as_service(&plain).spec.allocate_load_balancer_node_ports,
        Some(true)
    );
    let no_ports = api
        .create(&admin(), None, service("bare", lb(Some(false), None)))
        .await
        .unwrap();
    assert_eq!(node_ports_of(&no_ports), [0]);
    let local = api
        .create(&admin(), None, service("local", lb(None, Some("Local"))))
        .await
        .unwrap();
    assert_eq!(node_ports_of(&local), [30087]);
    assert_eq!(as_service(&local).spec.health_check_node_port, Some(30088));
    delete(&api, &info::SERVICE, "default", "local")
        .await
        .unwrap();
    assert_eq!(
        port_allocations(&api),
        [("30086".to_owned(), owner("plain"))]
    );
}

// ---------------------------------------------------------------------------------------------
// Updates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn updates_keep_release_and_allocate_as_the_type_changes() {
    let api = server().await;
    let created = api
        .create(&admin(), None, service("web", cluster_ip_spec()))
        .await
        .unwrap();
    assert_eq!(cluster_ip_of(&created), "10.96.1.1");

    // Re-applying the manifest without the allocated address keeps it.
    let mut reapplied = service("web", cluster_ip_spec());
    reapplied.metadata_mut().namespace = Some("default".into());
    let kept = api.update(&admin(), reapplied).await.unwrap();
    assert_eq!(cluster_ip_of(&kept), "10.96.1.1");
    assert_eq!(kept.metadata().generation, Some(1));

    // The address may not change.
    let mut moved = kept.clone();
    if let Object::Service(s) = &mut moved {
        s.spec.cluster_ip = Some("10.96.1.9".into());
        s.spec.cluster_ips = vec!["10.96.1.9".into()];
    }
    assert_eq!(
        status_of(api.update(&admin(), moved).await),
        (422, "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.96.1.9\"}: may not change once set".into())
    );

    // ClusterIP → NodePort allocates a node port in the update's transaction.
    let mut exposed = kept.clone();
    if let Object::Service(s) = &mut exposed {
        s.spec.type_ = Some("NodePort".into());
    }
    let exposed = api.update(&admin(), exposed).await.unwrap();
    assert_eq!(node_ports_of(&exposed), [30086]);
    assert_eq!(port_allocations(&api), [("30086".to_owned(), owner("web"))]);

    // NodePort → ClusterIP with the node port left as it was releases it.
    let mut internal = exposed.clone();
    if let Object::Service(s) = &mut internal {
        s.spec.type_ = Some("ClusterIP".into());
    }
    let internal = api.update(&admin(), internal).await.unwrap();
    assert_eq!(node_ports_of(&internal), [0]);
    assert_eq!(as_service(&internal).spec.external_traffic_policy, None);
    assert!(port_allocations(&api).is_empty());

    // ClusterIP → ExternalName gives the address back; and back again allocates one.
    let mut external = internal.clone();
    if let Object::Service(s) = &mut external {
        s.spec.type_ = Some("ExternalName".into());
        s.spec.external_name = Some("web.example.com".into());
        s.spec.selector.clear();
    }
    let external = api.update(&admin(), external).await.unwrap();
    assert_eq!(as_service(&external).spec.cluster_ip, None);
    assert_eq!(ip_allocations(&api).len(), 1, "only the kubernetes service");
    let mut back = external.clone();
    if let Object::Service(s) = &mut back {
        s.spec.type_ = Some("ClusterIP".into());
        s.spec.external_name = None;
    }
    let back = api.update(&admin(), back).await.unwrap();
    assert_eq!(cluster_ip_of(&back), "10.96.1.1");
    assert_eq!(
        ip_allocations(&api).last(),
        Some(&("10.96.1.1".to_owned(), owner("web")))
    );
    api.store().verify().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Concurrency and durability
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_share_an_address_or_port() {
    const SERVICES: usize = 50;
    let api = Arc::new(server().await);
    let mut tasks = Vec::new();
    for i in 0..SERVICES {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let spec = if i % 2 == 0 {
                cluster_ip_spec()
            } else {
                node_port_spec(None)
            };
            api.create(&admin(), None, service(&format!("svc-{i}"), spec))
                .await
                .unwrap()
        }));
    }
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for task in tasks {
        let created = task.await.unwrap();
        assert!(ips.insert(cluster_ip_of(&created)), "{created:?}");
        for port in node_ports_of(&created).into_iter().filter(|p| *p != 0) {
            assert!(ports.insert(port), "node port {port} handed out twice");
        }
    }
    assert_eq!(ips.len(), SERVICES);
    assert_eq!(ports.len(), SERVICES / 2);
    // Sequential allocation leaves no holes: the first 50 dynamic addresses and ports.
    let expected_ips: BTreeSet<String> = (1..=SERVICES).map(|i| format!("10.96.1.{i}")).collect();
    assert_eq!(ips, expected_ips);
    let expected_ports: BTreeSet<i32> = (30_086..30_086 + 25).collect();
    assert_eq!(ports, expected_ports);
    // Every address is recorded once, owned by the service that shows it.
    let recorded = ip_allocations(&api);
    assert_eq!(recorded.len(), SERVICES + 1);
    for (ip, owner_key) in recorded {
        let name = owner_key.rsplit('/').next().unwrap();
        let shown = api.get(&info::SERVICE, "default", name).unwrap();
        assert_eq!(cluster_ip_of(&shown), ip);
    }
    assert_allocations_match_services(&api);
    api.store().verify().unwrap();
}

#[tokio::test]
async fn a_reopened_store_keeps_its_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let api = new_server(Backing::Dir(dir.path().to_owned()), 1);
        api.bootstrap().await.unwrap();
        for name in ["a", "b"] {
            api.create(&admin(), None, service(name, node_port_spec(None)))
                .await
                .unwrap();
        }
        let recorded = (ip_allocations(&api), port_allocations(&api));
        api.store().shutdown().await;
        recorded
    };
    let api = new_server(Backing::Dir(dir.path().to_owned()), 2);
    api.bootstrap().await.unwrap();
    assert_eq!((ip_allocations(&api), port_allocations(&api)), before);
    let c = api
        .create(&admin(), None, service("c", node_port_spec(None)))
        .await
        .unwrap();
    assert_eq!(cluster_ip_of(&c), "10.96.1.3");
    assert_eq!(node_ports_of(&c), [30088]);
    api.store().verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_servers_over_one_store_never_share_an_address() {
    // Each server claims only its own writes in flight; the store's Compare::Absent on the
    // allocation keys settles the races between them.
    const PER_SERVER: usize = 20;
    let first = Arc::new(server().await);
    let clock = ManualClock::new(START_UNIX_SECONDS);
    let second = Arc::new(ApiServer::new(first.store().clone(), Arc::new(clock), 99));
    let mut tasks = Vec::new();
    for i in 0..PER_SERVER {
        for (tag, api) in [("x", first.clone()), ("y", second.clone())] {
            tasks.push(tokio::spawn(async move {
                api.create(
                    &admin(),
                    None,
                    service(&format!("{tag}-{i}"), cluster_ip_spec()),
                )
                .await
                .unwrap()
            }));
        }
    }
    let mut ips = BTreeSet::new();
    for task in tasks {
        let created = task.await.unwrap();
        assert!(ips.insert(cluster_ip_of(&created)), "{created:?}");
    }
    assert_eq!(ips.len(), 2 * PER_SERVER);
    assert_eq!(ip_allocations(&first).len(), 2 * PER_SERVER + 1);
}

#[tokio::test]
async fn an_allocation_recorded_elsewhere_is_respected() {
    let api = server().await;
    // Another writer (a second API server) recorded 10.96.1.1 and node port 30086.
    for key in [
        "/ranges/serviceips/10.96.1.1",
        "/ranges/servicenodeports/30086",
    ] {
        api.store()
            .op(
                &admin(),
                skiff_store::Op::PutRaw {
                    key: key.to_owned(),
                    value: b"/registry/services/specs/other/elsewhere".to_vec(),
                },
            )
            .await
            .unwrap();
    }
    let created = api
        .create(&admin(), None, service("web", node_port_spec(None)))
        .await
        .unwrap();
    assert_eq!(cluster_ip_of(&created), "10.96.1.2");
    assert_eq!(node_ports_of(&created), [30087]);
    // Deleting web releases only what web holds.
    delete(&api, &info::SERVICE, "default", "web")
        .await
        .unwrap();
    assert_eq!(
        ip_allocations(&api),
        [
            ("10.96.0.1".to_owned(), owner("kubernetes")),
            (
                "10.96.1.1".to_owned(),
                "/registry/services/specs/other/elsewhere".to_owned()
            ),
        ]
    );
}

/// Every allocation key names a Service that shows that value, and every value a Service shows
/// has its key: no allocation without its Service, no Service without its allocation.
fn assert_allocations_match_services(api: &ApiServer) {
    let mut ips = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for object in api
        .list(&info::SERVICE, None, &ListOptions::default())
        .unwrap()
        .items
    {
        let meta = object.metadata();
        let key = format!(
            "/registry/services/specs/{}/{}",
            meta.namespace_or_empty(),
            meta.name_or_empty()
        );
        let spec = &as_service(&object).spec;
        for ip in spec.cluster_ips.iter().filter(|ip| *ip != "None") {
            ips.insert((ip.clone(), key.clone()));
        }
        for port in spec.ports.iter().filter_map(|p| p.node_port) {
            ports.insert((port.to_string(), key.clone()));
        }
    }
    let recorded_ips: BTreeSet<_> = ip_allocations(api).into_iter().collect();
    let recorded_ports: BTreeSet<_> = port_allocations(api).into_iter().collect();
    assert_eq!(recorded_ips, ips);
    assert_eq!(recorded_ports, ports);
}

#[tokio::test]
async fn a_power_loss_never_splits_a_service_from_its_allocations() {
    use skiff_store::disk::{PowerLoss, SimDisk};
    // Crash points spread over the creates below (each commit issues a few dozen I/Os).
    let mut interrupted = 0;
    for crash_after in (1..=120).step_by(5) {
        let disk = SimDisk::new();
        let mut acknowledged = Vec::new();
        {
            let api = new_server(Backing::Sim(disk.clone()), crash_after);
            api.bootstrap().await.unwrap();
            disk.arm_crash_after(crash_after, PowerLoss::TearUnsynced { seed: crash_after });
            for i in 0..8 {
                let spec = if i % 2 == 0 {
                    node_port_spec(None)
                } else {
                    cluster_ip_spec()
                };
                match api
                    .create(&admin(), None, service(&format!("s{i}"), spec))
                    .await
                {
                    Ok(created) => acknowledged.push(created),
                    Err(ApiError::Fatal(_)) => break,
                    Err(other) => panic!("crash point {crash_after}: {other}"),
                }
            }
            // When the armed crash did not fire, lose power now, after the acknowledgements.
            if disk.disarm() {
                disk.crash();
            } else {
                interrupted += 1;
            }
        }
        let api = new_server(Backing::Sim(disk.clone()), 0);
        api.store().verify().unwrap();
        assert_allocations_match_services(&api);
        for created in &acknowledged {
            let name = created.metadata().name_or_empty();
            let now = api.get(&info::SERVICE, "default", name).unwrap();
            assert_eq!(cluster_ip_of(&now), cluster_ip_of(created), "{name}");
            assert_eq!(node_ports_of(&now), node_ports_of(created), "{name}");
        }
        // The reopened server allocates around what survived.
        api.create(&admin(), None, service("after", node_port_spec(None)))
            .await
            .unwrap();
        assert_allocations_match_services(&api);
    }
    eprintln!("{interrupted} runs lost power in the middle of the creates");
    assert!(
        interrupted >= 5,
        "only {interrupted} crash points hit the creates"
    );
}
