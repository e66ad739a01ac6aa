//! Service, Endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::is_default;
use super::serde_util::null_as_default;
use super::{
    ApiVersion, IntOrString, Kind, ObjectMeta, ObjectReference, Value, impl_resource, info,
};

/// A `Service`: a stable virtual address in front of a set of pods (upstream
/// `core/v1.Service`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Service>,
    /// Always `Service`.
    #[serde(default)]
    pub kind: Kind<Service>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state.
    #[serde(default, skip_serializing_if = "is_default")]
    pub spec: ServiceSpec,
    /// Observed state (load balancer ingress points and conditions).
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: ServiceStatus,
}
impl_resource!(Service, info::SERVICE);

/// The desired state of a [`Service`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// `ClusterIP` (the default), `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Pods carrying all these labels back the service. When empty, endpoints are managed by
    /// someone else.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub selector: BTreeMap<String, String>,
    /// The ports the service exposes.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ServicePort>,
    /// The virtual IP; `None` (the string) makes a headless service.
    #[serde(default, rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// The virtual IPs, one per IP family; the first equals `clusterIP`.
    #[serde(
        default,
        rename = "clusterIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cluster_ips: Vec<String>,
    /// Extra IPs nodes accept traffic for this service on.
    #[serde(
        default,
        rename = "externalIPs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_ips: Vec<String>,
    /// `None` (the default) or `ClientIP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<String>,
    /// Requested load balancer IP (deprecated upstream).
    #[serde(
        default,
        rename = "loadBalancerIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balancer_ip: Option<String>,
    /// Client CIDRs a cloud load balancer admits.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub load_balancer_source_ranges: Vec<String>,
    /// DNS name an `ExternalName` service aliases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// `Cluster` or `Local`: where traffic arriving on node ports and external IPs may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<String>,
    /// `Cluster` or `Local`: where traffic to the cluster IP from inside the cluster may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_traffic_policy: Option<String>,
    /// Node port serving load balancer health checks (type `LoadBalancer`, policy `Local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_node_port: Option<i32>,
    /// When true, endpoints include pods that are not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_not_ready_addresses: Option<bool>,
    /// Client-IP affinity timeout: carried verbatim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub session_affinity_config: Option<Value>,
    /// `IPv4` and/or `IPv6`, matching `clusterIPs`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_families: Vec<String>,
    /// `SingleStack`, `PreferDualStack` or `RequireDualStack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family_policy: Option<String>,
    /// Whether a `LoadBalancer` service gets node ports; true when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// The load balancer implementation that should serve this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_class: Option<String>,
    /// Routing preference hint, e.g. `PreferSameZone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<String>,
}

/// One port of a [`Service`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port name, unique within the service; matches the EndpointPort name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Application protocol hint, e.g. `kubernetes.io/h2c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The port the service exposes.
    pub port: i32,
    /// The pods' port: a number, or the name of a container port. `port` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// The port on every node, for `NodePort` and `LoadBalancer` services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

/// The observed state of a [`Service`]. skiff runs no load balancers, so both fields are
/// carried verbatim.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceStatus {
    /// Load balancer ingress points.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub load_balancer: Option<Value>,
    /// Service conditions (`metav1.Condition`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::serde_util::present"
    )]
    pub conditions: Option<Value>,
}

/// `Endpoints`: the addresses behind a [`Service`] (upstream `core/v1.Endpoints`, the legacy
/// form of EndpointSlice).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoints {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Endpoints>,
    /// Always `Endpoints`.
    #[serde(default)]
    pub kind: Kind<Endpoints>,
    /// Standard object metadata; the name is the service's.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Groups of addresses sharing a set of ports; the endpoints are the union of each group's
    /// addresses × ports.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subsets: Vec<EndpointSubset>,
}
impl_resource!(Endpoints, info::ENDPOINTS);

/// Addresses that share a set of ports.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointSubset {
    /// Ready addresses: safe to send traffic to.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub addresses: Vec<EndpointAddress>,
    /// Addresses not (or no longer) ready.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// Ports available on every address of the subset.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<EndpointPort>,
}

/// One endpoint IP.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointAddress {
    /// The IP.
    pub ip: String,
    /// Hostname of the endpoint (headless services publish it in DNS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Node hosting the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The object providing the endpoint, usually a Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// One endpoint port.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPort {
    /// Matches the name of a [`ServicePort`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The port number.
    pub port: i32,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Application protocol hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::config::test_support::{assert_round_trips, conformance_objects, names};

    const EVERY_FIELD: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - name: http
    protocol: TCP
    appProtocol: http
    port: 80
    targetPort: http
    nodePort: 30080
  - name: metrics
    port: 9090
    targetPort: 9091
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00::10"]
  externalIPs: [192.0.2.10]
  sessionAffinity: ClientIP
  loadBalancerIP: 198.51.100.7
  loadBalancerSourceRanges: [203.0.113.0/24]
  externalName: web.example.com
  externalTrafficPolicy: Local
  internalTrafficPolicy: Cluster
  healthCheckNodePort: 31000
  publishNotReadyAddresses: true
  sessionAffinityConfig:
    clientIP:
      timeoutSeconds: 10800
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  allocateLoadBalancerNodePorts: true
  loadBalancerClass: example.com/lb
  trafficDistribution: PreferSameZone
status:
  loadBalancer:
    ingress:
    - ip: 198.51.100.7
      ipMode: VIP
      ports: [{port: 80, protocol: TCP}]
  conditions:
  - type: LoadBalancerPortsError
    status: "False"
    observedGeneration: 1
    lastTransitionTime: "2024-05-01T12:00:00Z"
    reason: LoadBalancerMixedProtocolNotSupported
    message: ""
"#;

    #[test]
    fn service_accepts_every_upstream_field_and_round_trips() {
        let svc: Service = serde_saphyr::from_str(EVERY_FIELD).unwrap();
        assert_eq!(svc.spec.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(
            svc.spec.ports[0].target_port,
            Some(IntOrString::String("http".into()))
        );
        assert_eq!(svc.spec.ports[1].target_port, Some(IntOrString::Int(9091)));
        assert_eq!(svc.spec.ports[0].node_port, Some(30080));
        assert_eq!(svc.spec.cluster_ip.as_deref(), Some("10.96.0.10"));
        assert_eq!(svc.spec.cluster_ips, ["10.96.0.10", "fd00::10"]);
        assert_eq!(svc.spec.external_ips, ["192.0.2.10"]);
        assert_eq!(svc.spec.load_balancer_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(svc.spec.health_check_node_port, Some(31000));
        assert_eq!(svc.spec.ip_families, ["IPv4", "IPv6"]);
        assert!(svc.status.load_balancer.is_some());
        assert_round_trips(&svc);
    }

    #[test]
    fn service_without_target_ports_accepts_every_other_field_and_round_trips() {
        let yaml = EVERY_FIELD
            .replace("    targetPort: http\n", "")
            .replace("    targetPort: 9091\n", "");
        let svc: Service = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(
            svc.spec.ports[0],
            ServicePort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                app_protocol: Some("http".into()),
                port: 80,
                target_port: None,
                node_port: Some(30080),
            }
        );
        assert_eq!(svc.spec.session_affinity.as_deref(), Some("ClientIP"));
        assert_eq!(
            svc.spec.traffic_distribution.as_deref(),
            Some("PreferSameZone")
        );
        assert_eq!(svc.spec.publish_not_ready_addresses, Some(true));
        assert_round_trips(&svc);
    }

    #[test]
    fn service_writes_only_what_is_set() {
        let svc: Service = serde_saphyr::from_str(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\nspec:\n  selector:\n    app: db\n  \
             ports:\n  - port: 5432\n  clusterIP: None\nstatus:\n  loadBalancer: {}\n",
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&svc).unwrap(),
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"db"},"spec":{"selector":{"app":"db"},"ports":[{"port":5432}],"clusterIP":"None"},"status":{"loadBalancer":{}}}"#
        );
    }

    #[test]
    fn service_port_needs_a_port() {
        let err =
            serde_json::from_str::<Service>(r#"{"spec":{"ports":[{"name":"http"}]}}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing field `port` at line 1 column 33");
    }

    #[test]
    fn misspelled_service_field_is_an_unknown_field_error() {
        let err =
            serde_json::from_str::<Service>(r#"{"spec":{"clusterIp":"10.0.0.1"}}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown field `clusterIp`, expected one of `type`, "),
            "{err}"
        );
    }

    #[test]
    fn services_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<Service>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                ("application__guestbook__frontend-service.yaml", "frontend"),
                (
                    "application__wordpress__mysql-deployment.yaml",
                    "wordpress-mysql"
                ),
                ("controllers__statefulset.yaml", "nginx"),
                ("service__access__backend-service.yaml", "hello"),
                ("service__access__frontend-service.yaml", "frontend"),
                ("service__simple-service.yaml", "my-service"),
            ]
        );
        assert_eq!(objects[1].1.spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(
            objects[3].1.spec.ports[0].target_port,
            Some(IntOrString::String("http".into()))
        );
        assert_eq!(
            objects[5].1.spec.ports[0].target_port,
            Some(IntOrString::Int(9376))
        );
        for (_, svc) in &objects {
            assert_round_trips(svc);
        }
    }

    #[test]
    fn endpoints_accept_every_upstream_field_and_round_trip() {
        let ep: Endpoints = serde_saphyr::from_str(
            r"
apiVersion: v1
kind: Endpoints
metadata:
  name: web
  namespace: default
subsets:
- addresses:
  - ip: 10.244.1.5
    hostname: web-0
    nodeName: node-1
    targetRef: {kind: Pod, namespace: default, name: web-0, uid: 7c3e9a1b}
  notReadyAddresses:
  - ip: 10.244.2.7
    nodeName: node-2
  ports:
  - name: http
    port: 8080
    protocol: TCP
    appProtocol: http
",
        )
        .unwrap();
        let subset = &ep.subsets[0];
        assert_eq!(subset.addresses[0].ip, "10.244.1.5");
        assert_eq!(
            subset.addresses[0]
                .target_ref
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("web-0")
        );
        assert_eq!(
            subset.not_ready_addresses[0].node_name.as_deref(),
            Some("node-2")
        );
        assert_eq!(subset.ports[0].port, 8080);
        assert_round_trips(&ep);
    }

    #[test]
    fn endpoint_address_needs_an_ip() {
        let err =
            serde_json::from_str::<Endpoints>(r#"{"subsets":[{"addresses":[{"hostname":"a"}]}]}"#)
                .unwrap_err();
        assert_eq!(err.to_string(), "missing field `ip` at line 1 column 42");
    }
}
