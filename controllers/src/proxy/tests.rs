//! kube-proxy end to end: rule snapshots (insta) for the cases skiff issue #6 lists, and the
//! dataplane following the very rules the snapshots show.

use std::net::{Ipv4Addr, SocketAddrV4};

use skiff_core::manifest;
use skiff_core::object::{Endpoints, Object, Service};
use skiff_core::rng::SplitMix64;

use super::dataplane::{Dataplane, Packet, Protocol, Verdict};
use super::{RuleSet, rules};

/// Services and Endpoints from a multi-document manifest.
fn objects(yaml: &str) -> (Vec<Service>, Vec<Endpoints>) {
    let mut services = Vec::new();
    let mut endpoints = Vec::new();
    for object in manifest::parse_str("fixture.yaml", yaml).expect("the fixture parses") {
        match object {
            Object::Service(s) => services.push(s),
            Object::Endpoints(e) => endpoints.push(e),
            other => panic!("unexpected {}", other.info().kind),
        }
    }
    (services, endpoints)
}

fn rule_set(yaml: &str) -> RuleSet {
    let (services, endpoints) = objects(yaml);
    rules(&services, &endpoints, "node01")
}

/// The seed's web service (§8: traffic to 10.96.0.12 lands on 10.32.0.15) with `pods`
/// ready endpoints 10.32.0.15, .16, ….
fn web(pods: u8) -> String {
    let addresses: Vec<String> = (0..pods)
        .map(|i| format!("{{ip: 10.32.0.{}, nodeName: node01}}", 15 + i))
        .collect();
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  selector: {{app: web}}
  clusterIP: 10.96.0.12
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: web, namespace: default}}
subsets:
- addresses: [{}]
  ports: [{{name: http, port: 8080}}]
",
        addresses.join(", ")
    )
}

const NODE_PORT: &str = "
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: default}
spec:
  type: NodePort
  selector: {app: shop}
  clusterIP: 10.96.1.7
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: shop, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.5}, {ip: 10.244.2.9}]
  ports: [{name: http, port: 8080}]
";

/// A named targetPort: the Endpoints controller resolved `web-port` per pod, so the two pods
/// (whose containers name different port numbers `web-port`) come in two subsets.
const NAMED_TARGET_PORT: &str = "
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec:
  selector: {app: api}
  clusterIP: 10.96.4.20
  ports:
  - {name: https, port: 443, targetPort: web-port}
  - {name: metrics, port: 9090, protocol: TCP, targetPort: 9090}
---
apiVersion: v1
kind: Endpoints
metadata: {name: api, namespace: prod}
subsets:
- addresses: [{ip: 10.244.1.8}]
  ports: [{name: https, port: 8443}, {name: metrics, port: 9090}]
- addresses: [{ip: 10.244.2.3}]
  ports: [{name: https, port: 9443}, {name: metrics, port: 9090}]
";

/// A ClusterIP service whose pods are not ready yet, and a NodePort one with no pods at all.
const NO_ENDPOINTS: &str = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.12
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- notReadyAddresses: [{ip: 10.32.0.15}]
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.1.7
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
";

#[test]
fn cluster_ip_with_one_endpoint() {
    insta::assert_snapshot!(rule_set(&web(1)).to_iptables_save());
}

#[test]
fn cluster_ip_with_two_endpoints() {
    insta::assert_snapshot!(rule_set(&web(2)).to_iptables_save());
}

#[test]
fn cluster_ip_with_three_endpoints() {
    insta::assert_snapshot!(rule_set(&web(3)).to_iptables_save());
}

#[test]
fn node_port() {
    insta::assert_snapshot!(rule_set(NODE_PORT).to_iptables_save());
}

#[test]
fn named_target_port() {
    insta::assert_snapshot!(rule_set(NAMED_TARGET_PORT).to_iptables_save());
}

#[test]
fn service_without_endpoints() {
    insta::assert_snapshot!(rule_set(NO_ENDPOINTS).to_iptables_save());
}

#[test]
fn rules_do_not_depend_on_input_order() {
    let (mut services, mut endpoints) =
        objects(&format!("{}---{NODE_PORT}---{NAMED_TARGET_PORT}", web(3)));
    let forward = rules(&services, &endpoints, "node01");
    services.reverse();
    endpoints.reverse();
    for e in &mut endpoints {
        for s in &mut e.subsets {
            s.addresses.reverse();
        }
    }
    assert_eq!(rules(&services, &endpoints, "node01"), forward);
}

#[test]
fn headless_and_external_name_services_get_no_rules() {
    let set = rule_set(
        "
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec:
  type: ExternalName
  externalName: example.com
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.2}]
  ports: [{port: 5432}]
",
    );
    assert_eq!(set, rules([], [], "node01"));
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

#[test]
fn the_seed_example_lands_on_the_pod() {
    let dataplane = Dataplane::from_rules(&rule_set(&web(1)));
    let mut rng = SplitMix64::new(1);
    assert_eq!(
        dataplane.resolve(ip(10, 96, 0, 12), 80, Protocol::Tcp, &mut rng),
        Some((ip(10, 32, 0, 15), 8080))
    );
    // Wrong port, wrong protocol, not a service: untouched.
    assert_eq!(
        dataplane.resolve(ip(10, 96, 0, 12), 81, Protocol::Tcp, &mut rng),
        None
    );
    assert_eq!(
        dataplane.trace(
            &Packet {
                src: ip(10, 244, 0, 2),
                dst: ip(10, 96, 0, 12),
                dport: 80,
                protocol: Protocol::Udp
            },
            &mut rng
        ),
        Verdict::NotAService
    );
}

#[test]
fn three_endpoints_share_connections_evenly_and_a_seed_replays_them() {
    let dataplane = Dataplane::from_rules(&rule_set(&web(3)));
    let count = |seed: u64| {
        let mut rng = SplitMix64::new(seed);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            let (pod, port) = dataplane
                .resolve(ip(10, 96, 0, 12), 80, Protocol::Tcp, &mut rng)
                .expect("the service has endpoints");
            assert_eq!(port, 8080);
            counts[usize::from(pod.octets()[3] - 15)] += 1;
        }
        counts
    };
    let counts = count(42);
    assert_eq!(counts, [9_902, 9_970, 10_128]);
    assert!(
        counts.iter().all(|c| c.abs_diff(10_000) < 300),
        "{counts:?}"
    );
    assert_eq!(count(42), counts);
    assert_ne!(count(43), counts);
}

#[test]
fn node_ports_answer_on_every_node_address_and_are_masqueraded() {
    let dataplane = Dataplane::from_rules(&rule_set(NODE_PORT))
        .with_local_addresses([ip(192, 168, 0, 11), ip(192, 168, 0, 12)]);
    let mut rng = SplitMix64::new(5);
    let mut backends = std::collections::BTreeSet::new();
    for node_ip in [ip(192, 168, 0, 11), ip(192, 168, 0, 12)] {
        for _ in 0..20 {
            let verdict = dataplane.trace(
                &Packet {
                    src: ip(203, 0, 113, 7),
                    dst: node_ip,
                    dport: 30080,
                    protocol: Protocol::Tcp,
                },
                &mut rng,
            );
            let Verdict::Dnat { to, masquerade, .. } = verdict else {
                panic!("{verdict:?}")
            };
            assert!(masquerade, "node-port traffic is masqueraded");
            backends.insert(to);
        }
    }
    assert_eq!(
        backends.into_iter().collect::<Vec<_>>(),
        [
            SocketAddrV4::new(ip(10, 244, 1, 5), 8080),
            SocketAddrV4::new(ip(10, 244, 2, 9), 8080)
        ]
    );
    // Not a local address: the node port is not there.
    assert_eq!(
        dataplane.resolve(ip(192, 168, 0, 99), 30080, Protocol::Tcp, &mut rng),
        None
    );
    // The cluster IP still works.
    assert!(
        dataplane
            .resolve(ip(10, 96, 1, 7), 80, Protocol::Tcp, &mut rng)
            .is_some()
    );
}

#[test]
fn cluster_ip_traffic_is_masqueraded_only_from_outside_the_cluster_cidr_or_when_hairpinned() {
    let dataplane = Dataplane::from_rules(&rule_set(&web(1)));
    let mut rng = SplitMix64::new(3);
    let masquerade = |src: Ipv4Addr, rng: &mut SplitMix64| match dataplane.trace(
        &Packet {
            src,
            dst: ip(10, 96, 0, 12),
            dport: 80,
            protocol: Protocol::Tcp,
        },
        rng,
    ) {
        Verdict::Dnat { masquerade, .. } => masquerade,
        other => panic!("{other:?}"),
    };
    assert!(!masquerade(ip(10, 244, 3, 4), &mut rng), "from a pod");
    assert!(masquerade(ip(192, 168, 0, 11), &mut rng), "from a node");
    // 10.32.0.15 is outside 10.244.0.0/16 in the seed's example, so the first rule already
    // marks it; the hairpin rule marks it anyway.
    assert!(masquerade(ip(10, 32, 0, 15), &mut rng), "hairpin");
}

#[test]
fn a_service_without_endpoints_refuses_connections() {
    let dataplane =
        Dataplane::from_rules(&rule_set(NO_ENDPOINTS)).with_local_addresses([ip(192, 168, 0, 11)]);
    let mut rng = SplitMix64::new(9);
    let trace = |dst, dport, rng: &mut SplitMix64| {
        dataplane.trace(
            &Packet {
                src: ip(10, 244, 1, 2),
                dst,
                dport,
                protocol: Protocol::Tcp,
            },
            rng,
        )
    };
    assert_eq!(
        trace(ip(10, 96, 0, 12), 80, &mut rng),
        Verdict::Rejected {
            comment: Some("default/web:http has no endpoints".into())
        }
    );
    assert_eq!(
        trace(ip(192, 168, 0, 11), 30080, &mut rng),
        Verdict::Rejected {
            comment: Some("default/shop has no endpoints".into())
        }
    );
    assert_eq!(trace(ip(10, 244, 1, 9), 80, &mut rng), Verdict::NotAService);
}

#[test]
fn a_named_target_port_reaches_each_pod_on_its_own_port() {
    let dataplane = Dataplane::from_rules(&rule_set(NAMED_TARGET_PORT));
    let mut rng = SplitMix64::new(11);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        seen.insert(dataplane.resolve(ip(10, 96, 4, 20), 443, Protocol::Tcp, &mut rng));
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            Some((ip(10, 244, 1, 8), 8443)),
            Some((ip(10, 244, 2, 3), 9443))
        ]
    );
}

/// A LoadBalancer service with `externalTrafficPolicy: Local` and a ClusterIP service with
/// `internalTrafficPolicy: Local`, each with one pod on node01 and one on node02.
const LOCAL_POLICIES: &str = "
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: default}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 32001
  selector: {app: edge}
  clusterIP: 10.96.2.2
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30443}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: edge, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.5, nodeName: node01}, {ip: 10.244.2.5, nodeName: node02}]
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: default}
spec:
  internalTrafficPolicy: Local
  selector: {app: cache}
  clusterIP: 10.96.2.3
  ports: [{port: 6379}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: cache, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.6, nodeName: node01}, {ip: 10.244.2.6, nodeName: node02}]
  ports: [{port: 6379}]
";

#[test]
fn local_traffic_policies_on_a_node_with_local_endpoints() {
    insta::assert_snapshot!(rule_set(LOCAL_POLICIES).to_iptables_save());
}

#[test]
fn local_traffic_policies_on_a_node_without_local_endpoints() {
    let (services, endpoints) = objects(LOCAL_POLICIES);
    insta::assert_snapshot!(rules(&services, &endpoints, "node03").to_iptables_save());
}

#[test]
fn local_policies_keep_traffic_on_the_node_and_drop_it_where_there_is_no_local_pod() {
    let (services, endpoints) = objects(LOCAL_POLICIES);
    let node01 = Dataplane::from_rules(&rules(&services, &endpoints, "node01"))
        .with_local_addresses([ip(192, 168, 0, 11)]);
    let node03 = Dataplane::from_rules(&rules(&services, &endpoints, "node03"))
        .with_local_addresses([ip(192, 168, 0, 13)]);
    let mut rng = SplitMix64::new(17);
    let packet = |src, dst, dport| Packet {
        src,
        dst,
        dport,
        protocol: Protocol::Tcp,
    };
    for _ in 0..20 {
        // From outside, a node port with policy Local answers only with the node's own pod,
        // keeping the client's address.
        assert_eq!(
            node01.trace(
                &packet(ip(203, 0, 113, 9), ip(192, 168, 0, 11), 30443),
                &mut rng
            ),
            Verdict::Dnat {
                to: SocketAddrV4::new(ip(10, 244, 1, 5), 8080),
                endpoint_chain: "KUBE-SEP-GSSKEFALTDOBLQZJ".into(),
                masquerade: false,
            }
        );
        // internalTrafficPolicy Local: only the pod on this node.
        assert_eq!(
            node01.resolve(ip(10, 96, 2, 3), 6379, Protocol::Tcp, &mut rng),
            Some((ip(10, 244, 1, 6), 6379))
        );
    }
    // No local pod: outside traffic to the node port is dropped, the cluster IP of the
    // internal-Local service too; a pod on node03 still reaches the node port (short-circuit).
    assert_eq!(
        node03.trace(
            &packet(ip(203, 0, 113, 9), ip(192, 168, 0, 13), 30443),
            &mut rng
        ),
        Verdict::Dropped
    );
    assert_eq!(
        node03.trace(&packet(ip(10, 244, 3, 2), ip(10, 96, 2, 3), 6379), &mut rng),
        Verdict::Dropped
    );
    assert!(matches!(
        node03.trace(
            &packet(ip(10, 244, 3, 2), ip(192, 168, 0, 13), 30443),
            &mut rng
        ),
        Verdict::Dnat { .. }
    ));
}
