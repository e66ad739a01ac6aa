//! kube-proxy end to end: rule snapshots (insta) for the cases skiff issue #6 lists, and the
//! dataplane following the very rules the snapshots show.

use std::net::{Ipv4Addr, SocketAddrV4};

use skiff_core::manifest;
use skiff_core::object::{Endpoints, Object, Service};
use skiff_core::rng::SplitMix64;

use super::dataplane::{
    ClusterNetwork, ConnectError, Connection, Dataplane, Origin, Packet, Protocol, Verdict,
};
use super::dns::ClusterDns;
use super::{RuleSet, rules};
use crate::view::{ObjectKey, View};

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

/// Two nodes with podCIDRs and addresses, three pods, the `shop` NodePort service backed by
/// two of them and `web` without endpoints, all in a view as the simulator holds them.
fn cluster() -> ClusterNetwork {
    let yaml = "
apiVersion: v1
kind: Node
metadata: {name: node01}
spec: {podCIDR: 10.244.1.0/24}
status:
  addresses: [{type: InternalIP, address: 192.168.0.11}, {type: Hostname, address: node01}]
---
apiVersion: v1
kind: Node
metadata: {name: node02}
spec: {podCIDR: 10.244.2.0/24}
status:
  addresses: [{type: InternalIP, address: 192.168.0.12}]
---
apiVersion: v1
kind: Pod
metadata: {name: shop-a, namespace: default}
spec: {nodeName: node01, containers: [{name: c, image: shop}]}
status: {podIP: 10.244.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: shop-b, namespace: default}
spec: {nodeName: node02, containers: [{name: c, image: shop}]}
status: {podIP: 10.244.2.9}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {nodeName: node02, containers: [{name: c, image: busybox}]}
status: {podIP: 10.244.2.3}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.12
  ports: [{name: http, port: 80, targetPort: 8080}]
";
    let mut view = View::new();
    for object in manifest::parse_str("cluster.yaml", yaml)
        .unwrap()
        .into_iter()
        .chain(manifest::parse_str("shop.yaml", NODE_PORT).unwrap())
    {
        view.insert(object);
    }
    ClusterNetwork::from_view(&view, &super::Config::default(), ClusterDns::default())
}

fn client() -> Origin {
    Origin::Pod {
        node: "node02".into(),
        ip: ip(10, 244, 2, 3),
        namespace: "default".into(),
    }
}

#[test]
fn a_pod_reaches_a_service_by_name_and_lands_on_a_backend_pod() {
    let network = cluster();
    let mut rng = SplitMix64::new(2);
    let mut landed = std::collections::BTreeSet::new();
    for host in [
        "shop",
        "shop.default",
        "shop.default.svc.cluster.local",
        "10.96.1.7",
    ] {
        for _ in 0..10 {
            let c = network
                .connect(&client(), host, 80, Protocol::Tcp, &mut rng)
                .unwrap();
            assert_eq!(c.translated_by.as_deref(), Some("node02"));
            assert!(!c.masquerade);
            landed.insert((c.pod.unwrap().name, c.node, c.to));
        }
    }
    assert_eq!(
        landed.into_iter().collect::<Vec<_>>(),
        [
            (
                "shop-a".to_owned(),
                "node01".to_owned(),
                SocketAddrV4::new(ip(10, 244, 1, 5), 8080)
            ),
            (
                "shop-b".to_owned(),
                "node02".to_owned(),
                SocketAddrV4::new(ip(10, 244, 2, 9), 8080)
            ),
        ]
    );
}

#[test]
fn every_pod_reaches_every_pod_by_ip_across_nodes() {
    let network = cluster();
    let mut rng = SplitMix64::new(2);
    assert_eq!(
        network.connect(&client(), "10.244.1.5", 8080, Protocol::Tcp, &mut rng),
        Ok(Connection {
            to: SocketAddrV4::new(ip(10, 244, 1, 5), 8080),
            pod: Some(ObjectKey::new("default", "shop-a")),
            node: "node01".into(),
            translated_by: None,
            masquerade: false,
        })
    );
    // An address of node01's range that no pod holds still routes to node01.
    assert_eq!(
        network
            .connect(&client(), "10.244.1.77", 80, Protocol::Tcp, &mut rng)
            .map(|c| (c.pod, c.node)),
        Ok((None, "node01".into()))
    );
    assert_eq!(
        network.connect(&client(), "10.9.9.9", 80, Protocol::Tcp, &mut rng),
        Err(ConnectError::NoRoute(ip(10, 9, 9, 9)))
    );
}

#[test]
fn an_outside_client_reaches_node_ports_on_any_node_but_not_cluster_ips() {
    let network = cluster();
    let mut rng = SplitMix64::new(4);
    let outside = Origin::External(ip(203, 0, 113, 50));
    for (node_ip, node) in [("192.168.0.11", "node01"), ("192.168.0.12", "node02")] {
        let c = network
            .connect(&outside, node_ip, 30080, Protocol::Tcp, &mut rng)
            .unwrap();
        assert_eq!(c.translated_by.as_deref(), Some(node));
        assert!(c.masquerade);
        assert_eq!(c.to.port(), 8080);
    }
    assert_eq!(
        network.connect(&outside, "10.96.1.7", 80, Protocol::Tcp, &mut rng),
        Err(ConnectError::NoRoute(ip(10, 96, 1, 7)))
    );
}

#[test]
fn unknown_names_and_services_without_endpoints_fail_like_curl_says() {
    let network = cluster();
    let mut rng = SplitMix64::new(4);
    let unknown = network
        .connect(&client(), "nope", 80, Protocol::Tcp, &mut rng)
        .unwrap_err();
    assert_eq!(unknown.to_string(), "Could not resolve host: nope");
    let refused = network
        .connect(&client(), "web", 80, Protocol::Tcp, &mut rng)
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "Connection refused (default/web:http has no endpoints)"
    );
    assert!(network.node("node01").is_some());
    assert!(network.node("node09").is_none());
}

/// The seed's web service with ClientIP session affinity (10 minutes) and two pods.
fn sticky_web() -> String {
    web(2).replace(
        "  clusterIP: 10.96.0.12\n",
        "  clusterIP: 10.96.0.12\n  sessionAffinity: ClientIP\n  \
         sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}\n",
    )
}

#[test]
fn cluster_ip_with_client_ip_session_affinity() {
    insta::assert_snapshot!(rule_set(&sticky_web()).to_iptables_save());
}

#[test]
fn client_ip_affinity_keeps_a_client_on_its_pod_until_the_timeout() {
    use super::dataplane::RecentLists;
    use std::time::Duration;
    let dataplane = Dataplane::from_rules(&rule_set(&sticky_web()));
    let mut rng = SplitMix64::new(8);
    let mut recent = RecentLists::default();
    let mut connect = |src: Ipv4Addr, at: u64, rng: &mut SplitMix64| {
        let packet = Packet {
            src,
            dst: ip(10, 96, 0, 12),
            dport: 80,
            protocol: Protocol::Tcp,
        };
        match dataplane.trace_with(&packet, rng, &mut recent, Duration::from_secs(at)) {
            Verdict::Dnat { to, .. } => *to.ip(),
            other => panic!("{other:?}"),
        }
    };
    // Each client sticks to the pod it first got, connection after connection (every
    // connection renews the entry, so 20 connections 100 s apart stay within 600 s).
    let mut firsts = std::collections::BTreeSet::new();
    for client in 1..=8u8 {
        let src = ip(10, 244, 3, client);
        let first = connect(src, 0, &mut rng);
        firsts.insert(first);
        for i in 1..20 {
            assert_eq!(connect(src, i * 100, &mut rng), first, "client {client}");
        }
    }
    // Different clients are spread over both pods.
    assert_eq!(
        firsts.into_iter().collect::<Vec<_>>(),
        [ip(10, 32, 0, 15), ip(10, 32, 0, 16)]
    );
    // After the timeout a client is balanced afresh: over many clients that come back
    // late, some land on the other pod.
    let mut moved = 0;
    for client in 1..=40u8 {
        let src = ip(10, 244, 4, client);
        let first = connect(src, 10_000, &mut rng);
        if connect(src, 10_000 + 601, &mut rng) != first {
            moved += 1;
        }
    }
    assert_eq!(moved, 18);
    // Without memory (`trace`), there is no affinity at all.
    let plain: std::collections::BTreeSet<_> = (0..40)
        .map(|_| dataplane.resolve(ip(10, 96, 0, 12), 80, Protocol::Tcp, &mut rng))
        .collect();
    assert_eq!(plain.len(), 2);
}

#[test]
fn affinity_timeout_is_read_from_the_session_affinity_config() {
    let text = rule_set(&sticky_web()).to_iptables_save();
    assert!(text.contains("--rcheck --seconds 600 --reap"), "{text}");
    let default = rule_set(&web(1).replace(
        "  clusterIP: 10.96.0.12\n",
        "  clusterIP: 10.96.0.12\n  sessionAffinity: ClientIP\n",
    ))
    .to_iptables_save();
    assert!(
        default.contains("--rcheck --seconds 10800 --reap"),
        "{default}"
    );
    let out_of_range = rule_set(&web(1).replace(
        "  clusterIP: 10.96.0.12\n",
        "  clusterIP: 10.96.0.12\n  sessionAffinity: ClientIP\n  \
         sessionAffinityConfig: {clientIP: {timeoutSeconds: 90000}}\n",
    ))
    .to_iptables_save();
    assert!(out_of_range.contains("--rcheck --seconds 10800 --reap"));
    assert!(!rule_set(&web(1)).to_iptables_save().contains("recent"));
}

#[test]
fn kube_proxy_publishes_its_nodes_rules_on_every_change() {
    use crate::reconcile::Controller;
    let mut proxy = super::KubeProxy::new("node01", super::Config::default());
    let handle = proxy.handle();
    let empty = handle.current();
    assert_eq!(*empty, rules([], [], "node01"));
    let mut view = View::new();
    for object in manifest::parse_str("web.yaml", &web(2)).unwrap() {
        let keys = proxy.keys_for(&view, &object);
        assert_eq!(keys, [ObjectKey::new("", "node01")]);
        view.insert(object);
    }
    let now = std::time::SystemTime::UNIX_EPOCH;
    assert_eq!(
        proxy.reconcile(&view, &ObjectKey::new("", "node01"), now),
        crate::reconcile::Output::none()
    );
    assert_eq!(*handle.current(), rule_set(&web(2)));
    assert_eq!(proxy.syncs(), 1);
    assert_eq!(proxy.watches()[2].field_selector, "metadata.name=node01");
}

mod properties {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use skiff_core::object::{EndpointAddress, EndpointPort, EndpointSubset, ServicePort};

    use super::*;

    fn service(ports: &[(Option<String>, i32, Option<i32>)], type_: &str) -> Service {
        let mut s = Service::default();
        s.metadata.name = Some("svc".into());
        s.metadata.namespace = Some("ns".into());
        s.spec.type_ = Some(type_.into());
        s.spec.cluster_ip = Some("10.96.5.5".into());
        s.spec.ports = ports
            .iter()
            .map(|(name, port, node_port)| ServicePort {
                name: name.clone(),
                port: *port,
                node_port: *node_port,
                ..ServicePort::default()
            })
            .collect();
        s
    }

    fn endpoints(addresses: &[(String, i32)], port_name: Option<&str>) -> Endpoints {
        let mut e = Endpoints::default();
        e.metadata.name = Some("svc".into());
        e.metadata.namespace = Some("ns".into());
        e.subsets = addresses
            .iter()
            .map(|(ip, port)| EndpointSubset {
                addresses: vec![EndpointAddress {
                    ip: ip.clone(),
                    ..EndpointAddress::default()
                }],
                ports: vec![EndpointPort {
                    name: port_name.map(str::to_owned),
                    port: *port,
                    ..EndpointPort::default()
                }],
                ..EndpointSubset::default()
            })
            .collect();
        e
    }

    proptest! {
        /// Every connection lands on one of the service's endpoints, and every endpoint gets
        /// some of them.
        #[test]
        fn connections_land_on_every_endpoint_and_nowhere_else(
            hosts in proptest::collection::btree_set((1u8..=250, 1u8..=250), 1..8),
            port in 1i32..=65535,
            seed in any::<u64>(),
        ) {
            let addresses: Vec<(String, i32)> = hosts
                .iter()
                .map(|(a, b)| (format!("10.244.{a}.{b}"), port))
                .collect();
            let svc = service(&[(Some("p".into()), 80, None)], "ClusterIP");
            let eps = endpoints(&addresses, Some("p"));
            let dataplane = Dataplane::from_rules(&rules([&svc], [&eps], "n"));
            let expected: BTreeSet<(Ipv4Addr, u16)> = hosts
                .iter()
                .map(|(a, b)| (ip(10, 244, *a, *b), u16::try_from(port).unwrap()))
                .collect();
            let mut rng = SplitMix64::new(seed);
            let mut seen = BTreeSet::new();
            for _ in 0..600 {
                let landed = dataplane.resolve(ip(10, 96, 5, 5), 80, Protocol::Tcp, &mut rng);
                prop_assert!(landed.is_some_and(|l| expected.contains(&l)), "{landed:?}");
                seen.extend(landed);
            }
            prop_assert_eq!(seen, expected);
        }

        /// Whatever the input (bad IPs, ports out of range, unknown types), the rules are
        /// well formed: every jump goes to a declared chain and chain names fit iptables.
        #[test]
        fn rules_are_well_formed_for_any_input(
            ports in proptest::collection::vec(
                (proptest::option::of("[a-z]{0,3}"), -5i32..70_000, proptest::option::of(-5i32..70_000)),
                0..4,
            ),
            addresses in proptest::collection::vec(
                (prop_oneof!["10\\.244\\.[0-9]{1,3}\\.[0-9]{1,3}", "[0-9a-f:.]{0,8}"], -5i32..70_000),
                0..5,
            ),
            port_name in proptest::option::of("[a-z]{0,3}"),
            type_ in prop_oneof!["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "Bogus"],
        ) {
            let svc = service(&ports, &type_);
            let eps = endpoints(&addresses, port_name.as_deref());
            let set = rules([&svc], [&eps], "n");
            for table in [&set.filter, &set.nat] {
                let declared: BTreeSet<&str> =
                    table.chains().iter().map(|c| c.name.as_str()).collect();
                prop_assert_eq!(declared.len(), table.chains().len(), "a chain declared twice");
                for chain in table.chains() {
                    prop_assert!(chain.name.len() <= 28, "{}", chain.name);
                    for rule in &chain.rules {
                        if let super::super::rules::Target::Jump(to) = &rule.target {
                            prop_assert!(declared.contains(to.as_str()), "jump to undeclared {to}");
                        }
                    }
                }
            }
            let text = set.to_iptables_save();
            prop_assert!(text.ends_with("COMMIT\n"));
        }
    }
}

#[test]
fn the_cluster_network_remembers_affinity_per_node_between_connections() {
    use super::dataplane::NetworkState;
    use std::time::Duration;
    let mut view = View::new();
    for object in manifest::parse_str("sticky.yaml", &sticky_web())
        .unwrap()
        .into_iter()
        .chain(
            manifest::parse_str(
                "node.yaml",
                "apiVersion: v1\nkind: Node\nmetadata: {name: node01}\nspec: {podCIDR: 10.32.0.0/24}\n",
            )
            .unwrap(),
        )
    {
        view.insert(object);
    }
    let network =
        ClusterNetwork::from_view(&view, &super::Config::default(), ClusterDns::default());
    let origin = Origin::Pod {
        node: "node01".into(),
        ip: ip(10, 32, 0, 40),
        namespace: "default".into(),
    };
    let mut rng = SplitMix64::new(21);
    let mut state = NetworkState::default();
    let landed: std::collections::BTreeSet<_> = (0..30)
        .map(|i| {
            network
                .connect_with(
                    &origin,
                    "web",
                    80,
                    Protocol::Tcp,
                    &mut rng,
                    &mut state,
                    Duration::from_secs(i),
                )
                .unwrap()
                .to
        })
        .collect();
    assert_eq!(landed.len(), 1, "{landed:?}");
    let lists = &state.recent["node01"];
    assert_eq!(
        lists.len("KUBE-SEP-JKFI6KFFS2B7Z7MS") + lists.len("KUBE-SEP-5FBFWA6JHNLKTP7R"),
        1
    );
}
