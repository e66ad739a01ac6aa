//! Endpoints controller tests.

use proptest::prelude::*;
use skiff_core::object::{Container, ContainerPort, PodCondition};

use super::*;

fn service(name: &str, selector: &[(&str, &str)], ports: Vec<ServicePort>) -> Service {
    let mut s = Service::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some("default".into());
    s.metadata.labels.insert("team".into(), "web".into());
    s.spec.selector = selector
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s.spec.ports = ports;
    s.spec.cluster_ip = Some("10.96.1.1".into());
    s
}

fn port(name: &str, port: i32, target: Option<IntOrString>) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        protocol: Some("TCP".into()),
        port,
        target_port: target,
        ..ServicePort::default()
    }
}

fn pod(name: &str, ip: Option<&str>, ready: bool, container_ports: &[(&str, i32)]) -> Pod {
    let mut c = Container::new("c", "nginx");
    c.ports = container_ports
        .iter()
        .map(|(n, p)| ContainerPort {
            name: Some((*n).into()),
            container_port: *p,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        })
        .collect();
    let mut p = Pod::new(name, vec![c]);
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.metadata.labels.insert("app".into(), "web".into());
    p.spec.node_name = Some("n1".into());
    p.status.phase = Some("Running".into());
    p.status.pod_ip = ip.map(Into::into);
    p.status.conditions = vec![PodCondition {
        r#type: "Ready".into(),
        status: if ready { "True" } else { "False" }.into(),
        ..PodCondition::default()
    }];
    p
}

fn address(pod: &str, ip: &str) -> EndpointAddress {
    EndpointAddress {
        ip: ip.into(),
        hostname: None,
        node_name: Some("n1".into()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: Some("default".into()),
            name: Some(pod.into()),
            uid: Some(format!("uid-{pod}")),
            ..ObjectReference::default()
        }),
    }
}

fn endpoint_port(name: &str, port: i32) -> EndpointPort {
    EndpointPort {
        name: Some(name.into()),
        port,
        protocol: Some("TCP".into()),
        app_protocol: None,
    }
}

fn view_of(objects: impl IntoIterator<Item = Object>) -> View {
    let mut view = View::new();
    for o in objects {
        view.insert(o);
    }
    view
}

fn endpoints(subsets: Vec<EndpointSubset>) -> Endpoints {
    let mut e = Endpoints::default();
    e.metadata.name = Some("web".into());
    e.metadata.namespace = Some("default".into());
    e.metadata.labels.insert("team".into(), "web".into());
    e.subsets = subsets;
    e
}

fn key() -> ObjectKey {
    ObjectKey::new("default", "web")
}

fn web_service() -> Service {
    service(
        "web",
        &[("app", "web")],
        vec![port("http", 80, Some(IntOrString::Int(8080)))],
    )
}

#[test]
fn ready_pods_are_addresses_and_unready_ones_not_ready_addresses() {
    let view = view_of([
        web_service().into(),
        pod("a", Some("10.0.0.2"), true, &[]).into(),
        pod("b", Some("10.0.0.1"), false, &[]).into(),
        pod("c", Some("10.0.0.3"), true, &[]).into(),
    ]);
    let out = reconcile_service(&view, &key());
    assert_eq!(
        out,
        Output {
            actions: vec![Action::Create(
                endpoints(vec![EndpointSubset {
                    addresses: vec![address("a", "10.0.0.2"), address("c", "10.0.0.3")],
                    not_ready_addresses: vec![address("b", "10.0.0.1")],
                    ports: vec![endpoint_port("http", 8080)],
                }])
                .into()
            )],
            requeue_after: None,
        }
    );
}

#[test]
fn named_target_port_resolves_per_pod_and_groups_by_port() {
    let svc = service(
        "web",
        &[("app", "web")],
        vec![port("http", 80, Some(IntOrString::String("web".into())))],
    );
    let view = view_of([
        svc.into(),
        pod("a", Some("10.0.0.1"), true, &[("web", 8080)]).into(),
        pod("b", Some("10.0.0.2"), true, &[("web", 9090)]).into(),
        pod("c", Some("10.0.0.3"), true, &[("web", 8080)]).into(),
        // No container port of that name: left out of the port.
        pod("d", Some("10.0.0.4"), true, &[("metrics", 9100)]).into(),
    ]);
    let out = reconcile_service(&view, &key());
    assert_eq!(
        out.actions,
        vec![Action::Create(
            endpoints(vec![
                EndpointSubset {
                    addresses: vec![address("a", "10.0.0.1"), address("c", "10.0.0.3")],
                    not_ready_addresses: vec![],
                    ports: vec![endpoint_port("http", 8080)],
                },
                EndpointSubset {
                    addresses: vec![address("b", "10.0.0.2")],
                    not_ready_addresses: vec![],
                    ports: vec![endpoint_port("http", 9090)],
                },
            ])
            .into()
        )]
    );
}

#[test]
fn ports_served_by_the_same_addresses_share_a_subset() {
    let svc = service(
        "web",
        &[("app", "web")],
        vec![
            port("http", 80, Some(IntOrString::String("web".into()))),
            port("admin", 81, None),
        ],
    );
    let view = view_of([
        svc.into(),
        pod("a", Some("10.0.0.1"), true, &[("web", 8080)]).into(),
    ]);
    let out = reconcile_service(&view, &key());
    assert_eq!(
        out.actions,
        vec![Action::Create(
            endpoints(vec![EndpointSubset {
                addresses: vec![address("a", "10.0.0.1")],
                not_ready_addresses: vec![],
                ports: vec![endpoint_port("admin", 81), endpoint_port("http", 8080)],
            }])
            .into()
        )]
    );
}

#[test]
fn pods_without_ip_terminating_terminal_or_unselected_are_left_out() {
    let mut terminating = pod("t", Some("10.0.0.5"), true, &[]);
    terminating.metadata.deletion_timestamp = Some(skiff_core::object::Time::from_unix_seconds(5));
    let mut done = pod("s", Some("10.0.0.6"), false, &[]);
    done.status.phase = Some("Succeeded".into());
    let mut other = pod("o", Some("10.0.0.7"), true, &[]);
    other.metadata.labels.insert("app".into(), "db".into());
    let view = view_of([
        web_service().into(),
        pod("a", Some("10.0.0.1"), true, &[]).into(),
        pod("noip", None, true, &[]).into(),
        terminating.into(),
        done.into(),
        other.into(),
    ]);
    let out = reconcile_service(&view, &key());
    assert_eq!(
        out.actions,
        vec![Action::Create(
            endpoints(vec![EndpointSubset {
                addresses: vec![address("a", "10.0.0.1")],
                not_ready_addresses: vec![],
                ports: vec![endpoint_port("http", 8080)],
            }])
            .into()
        )]
    );
}

#[test]
fn publish_not_ready_addresses_lists_every_pod_as_ready_including_terminating() {
    let mut svc = web_service();
    svc.spec.publish_not_ready_addresses = Some(true);
    let mut terminating = pod("t", Some("10.0.0.5"), true, &[]);
    terminating.metadata.deletion_timestamp = Some(skiff_core::object::Time::from_unix_seconds(5));
    let view = view_of([
        svc.into(),
        pod("b", Some("10.0.0.1"), false, &[]).into(),
        terminating.into(),
    ]);
    let out = reconcile_service(&view, &key());
    assert_eq!(
        out.actions,
        vec![Action::Create(
            endpoints(vec![EndpointSubset {
                addresses: vec![address("b", "10.0.0.1"), address("t", "10.0.0.5")],
                not_ready_addresses: vec![],
                ports: vec![endpoint_port("http", 8080)],
            }])
            .into()
        )]
    );
}

#[test]
fn service_with_no_matching_pods_gets_empty_endpoints() {
    let view = view_of([web_service().into()]);
    assert_eq!(
        reconcile_service(&view, &key()).actions,
        vec![Action::Create(endpoints(vec![]).into())]
    );
}

#[test]
fn unchanged_endpoints_are_not_written_and_changed_ones_are_updated_with_their_version() {
    let current = EndpointSubset {
        addresses: vec![address("a", "10.0.0.1")],
        not_ready_addresses: vec![],
        ports: vec![endpoint_port("http", 8080)],
    };
    let mut stored = endpoints(vec![current.clone()]);
    stored.metadata.resource_version = Some("42".into());
    stored.metadata.uid = Some("ep-uid".into());
    let mut view = view_of([
        web_service().into(),
        pod("a", Some("10.0.0.1"), true, &[]).into(),
        stored.clone().into(),
    ]);
    assert_eq!(reconcile_service(&view, &key()), Output::none());
    view.insert(pod("a", Some("10.0.0.1"), false, &[]).into());
    let mut expected = stored;
    expected.subsets = vec![EndpointSubset {
        addresses: vec![],
        not_ready_addresses: vec![address("a", "10.0.0.1")],
        ports: vec![endpoint_port("http", 8080)],
    }];
    assert_eq!(
        reconcile_service(&view, &key()).actions,
        vec![Action::Update(expected.into())]
    );
}

#[test]
fn service_without_selector_leaves_its_endpoints_alone() {
    let svc = service("web", &[], vec![port("http", 80, None)]);
    let manual = endpoints(vec![EndpointSubset {
        addresses: vec![address("x", "192.168.0.1")],
        not_ready_addresses: vec![],
        ports: vec![endpoint_port("http", 80)],
    }]);
    let view = view_of([svc.into(), manual.into()]);
    assert_eq!(reconcile_service(&view, &key()), Output::none());
}

#[test]
fn deleted_service_takes_its_endpoints_with_it() {
    let mut stored = endpoints(vec![]);
    stored.metadata.uid = Some("ep-uid".into());
    let view = view_of([stored.into()]);
    assert_eq!(
        reconcile_service(&view, &key()).actions,
        vec![Action::Delete {
            resource: &info::ENDPOINTS,
            namespace: "default".into(),
            name: "web".into(),
            options: DeleteOptions {
                uid: Some("ep-uid".into()),
                ..DeleteOptions::default()
            },
        }]
    );
    assert_eq!(reconcile_service(&View::new(), &key()), Output::none());
}

#[test]
fn headless_service_without_ports_lists_bare_addresses_and_hostnames() {
    let mut svc = service("web", &[("app", "web")], vec![]);
    svc.spec.cluster_ip = Some("None".into());
    let mut a = pod("a", Some("10.0.0.1"), true, &[]);
    a.spec.hostname = Some("a-host".into());
    a.spec.subdomain = Some("web".into());
    let view = view_of([svc.into(), a.into()]);
    let mut expected = endpoints(vec![EndpointSubset {
        addresses: vec![EndpointAddress {
            hostname: Some("a-host".into()),
            ..address("a", "10.0.0.1")
        }],
        not_ready_addresses: vec![],
        ports: vec![],
    }]);
    expected
        .metadata
        .labels
        .insert(LABEL_HEADLESS.into(), String::new());
    assert_eq!(
        reconcile_service(&view, &key()).actions,
        vec![Action::Create(expected.into())]
    );
}

#[test]
fn non_headless_service_without_ports_lists_nothing() {
    let svc = service("web", &[("app", "web")], vec![]);
    let view = view_of([svc.into(), pod("a", Some("10.0.0.1"), true, &[]).into()]);
    assert_eq!(
        reconcile_service(&view, &key()).actions,
        vec![Action::Create(endpoints(vec![]).into())]
    );
}

#[test]
fn pod_change_concerns_services_selecting_it_and_those_listing_it() {
    let listed = endpoints(vec![EndpointSubset {
        addresses: vec![address("a", "10.0.0.1")],
        not_ready_addresses: vec![],
        ports: vec![],
    }]);
    let mut old = listed.clone();
    old.metadata.name = Some("old".into());
    let view = view_of([
        service("api", &[("app", "web")], vec![]).into(),
        service("db", &[("app", "db")], vec![]).into(),
        old.into(),
    ]);
    let c = EndpointsController;
    let keys = c.keys_for(&view, &pod("a", Some("10.0.0.1"), true, &[]).into());
    assert_eq!(
        keys,
        [
            ObjectKey::new("default", "api"),
            ObjectKey::new("default", "old")
        ]
    );
}

proptest! {
    #[test]
    fn same_view_gives_the_same_endpoints(
        pods in proptest::collection::vec(
            (0..20u8, proptest::bool::ANY, proptest::option::of(0..3u8), 8000..8003i32),
            0..12,
        ),
        named in proptest::bool::ANY,
    ) {
        let target = if named {
            IntOrString::String("web".into())
        } else {
            IntOrString::Int(8080)
        };
        let mut objects: Vec<Object> =
            vec![service("web", &[("app", "web")], vec![port("http", 80, Some(target))]).into()];
        for (i, (ip, ready, _, container_port)) in pods.iter().enumerate() {
            objects.push(
                pod(
                    &format!("p{i}"),
                    Some(&format!("10.0.0.{ip}")),
                    *ready,
                    &[("web", *container_port)],
                )
                .into(),
            );
        }
        let forward = view_of(objects.clone());
        let backward = view_of(objects.into_iter().rev());
        let a = reconcile_service(&forward, &key());
        prop_assert_eq!(&a, &reconcile_service(&forward, &key()));
        prop_assert_eq!(&a, &reconcile_service(&backward, &key()));
    }
}
