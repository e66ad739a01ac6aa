//! Services and Endpoints (upstream core `ValidateService`, `ValidateEndpoints`).

use std::collections::BTreeSet;

use crate::object::{
    EndpointAddress, EndpointPort, Endpoints, IntOrString, Service, ServicePort, Value,
};

use super::container::{PROTOCOLS, protocol_or_default, validate_port_num_or_name};
use super::format::{go_quote, go_string_slice};
use super::meta;
use super::syntax::{self, INVALID_CIDR, INVALID_IP, NameRule};
use super::{Errors, FieldError, Path};

/// upstream `supportedServiceType`, as `sets.List` orders them.
const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
/// Longest ClientIP session affinity timeout (upstream `MaxClientIPServiceAffinitySeconds`).
const CLIENT_IP_TIMEOUT_SECONDS_MAX: i64 = 86_400;

/// A Service's type as defaulted upstream: unset or empty is `ClusterIP`.
fn service_type(service: &Service) -> &str {
    match service.spec.type_.as_deref() {
        None | Some("") => "ClusterIP",
        Some(kind) => kind,
    }
}

/// The Service's cluster IPs as upstream's strategy syncs them before validating: `clusterIPs`,
/// or `[clusterIP]` when only that is set.
fn cluster_ips(service: &Service) -> Vec<String> {
    let cluster_ip = service.spec.cluster_ip.as_deref().unwrap_or("");
    if service.spec.cluster_ips.is_empty() && !cluster_ip.is_empty() {
        vec![cluster_ip.to_owned()]
    } else {
        service.spec.cluster_ips.clone()
    }
}

/// upstream `isHeadlessService`: exactly one cluster IP, `None`.
fn is_headless(ips: &[String]) -> bool {
    ips.len() == 1 && ips[0] == "None"
}

/// upstream `ValidateService`, in its order.
pub(crate) fn validate_service(service: &Service, errs: &mut Errors) {
    meta::validate_object_meta(&service.metadata, true, NameRule::Dns1035Label, errs);
    let spec = Path::root("spec");
    let s = &service.spec;
    let kind = service_type(service);
    let ips = cluster_ips(service);
    let headless = is_headless(&ips);
    if s.ports.is_empty() && !headless && kind != "ExternalName" {
        errs.push(FieldError::required(&spec.child("ports"), ""));
    }
    validate_type_specific(service, kind, &ips, &spec, errs);
    let mut names = BTreeSet::new();
    for (i, port) in s.ports.iter().enumerate() {
        validate_service_port(
            port,
            s.ports.len() > 1,
            &mut names,
            &spec.child("ports").index(i),
            errs,
        );
    }
    meta::validate_labels(&s.selector, &spec.child("selector"), errs);
    validate_session_affinity(service, &spec, errs);
    if kind != "ExternalName" {
        validate_cluster_ips(service, &ips, &spec, errs);
    }
    for (i, ip) in s.external_ips.iter().enumerate() {
        validate_external_ip(ip, &spec.child("externalIPs").index(i), errs);
    }
    if !SERVICE_TYPES.contains(&kind) {
        errs.push(FieldError::not_supported(
            &spec.child("type"),
            go_quote(kind),
            &SERVICE_TYPES,
        ));
    }
    validate_node_ports(service, kind, &spec, errs);
    validate_load_balancer_fields(service, kind, &spec, errs);
    validate_traffic_policies(service, kind, &spec, errs);
}

/// upstream: `None` is not a cluster IP for NodePort and LoadBalancer Services; an
/// ExternalName Service has no cluster IPs or IP families and names a DNS subdomain.
fn validate_type_specific(
    service: &Service,
    kind: &str,
    ips: &[String],
    spec: &Path,
    errs: &mut Errors,
) {
    let s = &service.spec;
    match kind {
        "LoadBalancer" | "NodePort" if is_headless(ips) => errs.push(FieldError::invalid(
            &spec.child("clusterIPs").index(0),
            go_quote(&ips[0]),
            format!("may not be set to 'None' for {kind} services"),
        )),
        "ExternalName" => {
            if !ips.is_empty() {
                errs.push(FieldError::forbidden(
                    &spec.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if !s.ip_families.is_empty() {
                errs.push(FieldError::forbidden(
                    &spec.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if s.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &spec.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            // The name may end with a dot, marking it fully qualified.
            let external_name = s.external_name.as_deref().unwrap_or("");
            let cname = external_name.strip_suffix('.').unwrap_or(external_name);
            if cname.is_empty() {
                errs.push(FieldError::required(&spec.child("externalName"), ""));
            } else {
                for message in syntax::dns1123_subdomain(cname) {
                    errs.push(FieldError::invalid(
                        &spec.child("externalName"),
                        go_quote(cname),
                        message,
                    ));
                }
            }
        }
        _ => {}
    }
}

/// upstream `validateServicePort`: names (required when there are several, DNS labels,
/// unique), port, protocol, targetPort (unset or 0 is defaulted to `port`), appProtocol.
fn validate_service_port(
    port: &ServicePort,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let name = port.name.as_deref().unwrap_or("");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        for message in syntax::dns1123_label(name) {
            errs.push(FieldError::invalid(
                &path.child("name"),
                go_quote(name),
                message,
            ));
        }
        if !names.insert(name.to_owned()) {
            errs.push(FieldError::duplicate(&path.child("name"), go_quote(name)));
        }
    }
    for message in syntax::port_num(i64::from(port.port)) {
        errs.push(FieldError::invalid(
            &path.child("port"),
            port.port.to_string(),
            message,
        ));
    }
    if let Some(protocol) = port
        .protocol
        .as_deref()
        .filter(|p| !p.is_empty() && !PROTOCOLS.contains(p))
    {
        errs.push(FieldError::not_supported(
            &path.child("protocol"),
            go_quote(protocol),
            &PROTOCOLS,
        ));
    }
    // upstream defaulting: an unset, 0 or "" targetPort is the port.
    match &port.target_port {
        Some(IntOrString::Int(0)) | None => {}
        Some(IntOrString::String(name)) if name.is_empty() => {}
        Some(target) => validate_port_num_or_name(target, &path.child("targetPort"), errs),
    }
    if let Some(app_protocol) = &port.app_protocol {
        meta::validate_label_name(app_protocol, &path.child("appProtocol"), errs);
    }
}

/// upstream `ValidateService`'s session affinity rules; a ClientIP affinity without a config
/// gets upstream's default timeout (10800 s).
fn validate_session_affinity(service: &Service, spec: &Path, errs: &mut Errors) {
    let s = &service.spec;
    let affinity = s.session_affinity.as_deref().unwrap_or("");
    if !affinity.is_empty() && !["ClientIP", "None"].contains(&affinity) {
        errs.push(FieldError::not_supported(
            &spec.child("sessionAffinity"),
            go_quote(affinity),
            &["ClientIP", "None"],
        ));
    }
    let config_path = spec.child("sessionAffinityConfig");
    let config = s
        .session_affinity_config
        .as_ref()
        .filter(|c| **c != Value::Null);
    match affinity {
        "ClientIP" => {
            // upstream validateAffinityTimeout on clientIP.timeoutSeconds, when given.
            if let Some(Value::Map(config)) = config
                && let Some(Value::Map(client_ip)) = config.get("clientIP")
                && let Some(timeout) = client_ip.get("timeoutSeconds")
            {
                let seconds = match timeout {
                    Value::Int(seconds) => Some(*seconds),
                    _ => None,
                };
                if !seconds.is_some_and(|s| (1..=CLIENT_IP_TIMEOUT_SECONDS_MAX).contains(&s)) {
                    errs.push(FieldError::invalid(
                        &config_path.child("clientIP").child("timeoutSeconds"),
                        seconds.map_or_else(|| "null".to_owned(), |s| s.to_string()),
                        format!(
                            "must be greater than 0 and less than {CLIENT_IP_TIMEOUT_SECONDS_MAX}"
                        ),
                    ));
                }
            }
        }
        "" | "None" if config.is_some() => {
            errs.push(FieldError::forbidden(
                &config_path,
                "must not be set when session affinity is None",
            ));
        }
        _ => {}
    }
}

/// upstream `ValidateServiceClusterIPsRelatedFields`: IP families known and distinct, a known
/// family policy.
fn validate_ip_families(service: &Service, spec: &Path, errs: &mut Errors) {
    const POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
    let s = &service.spec;
    let mut families = BTreeSet::new();
    for (i, family) in s.ip_families.iter().enumerate() {
        if !["IPv4", "IPv6"].contains(&family.as_str()) {
            errs.push(FieldError::not_supported(
                &spec.child("ipFamilies").index(i),
                go_quote(family),
                &["IPv4", "IPv6"],
            ));
        }
        if !families.insert(family.as_str()) {
            errs.push(FieldError::duplicate(
                &spec.child("ipFamilies").index(i),
                go_quote(family),
            ));
        }
    }
    if let Some(policy) = s
        .ip_family_policy
        .as_deref()
        .filter(|p| !POLICIES.contains(p))
    {
        errs.push(FieldError::not_supported(
            &spec.child("ipFamilyPolicy"),
            go_quote(policy),
            &POLICIES,
        ));
    }
}

/// upstream `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(service: &Service, ips: &[String], spec: &Path, errs: &mut Errors) {
    let s = &service.spec;
    let ips_path = spec.child("clusterIPs");
    let cluster_ip = s.cluster_ip.as_deref().unwrap_or("");
    if !cluster_ip.is_empty() && ips.first().is_some_and(|first| first != cluster_ip) {
        errs.push(FieldError::invalid(
            &ips_path,
            go_string_slice(ips),
            "first value must match `clusterIP`",
        ));
    } else if cluster_ip.is_empty() && !ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            go_string_slice(ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    validate_ip_families(service, spec, errs);
    let mut invalid = false;
    let mut parsed = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    go_string_slice(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if let Some(address) = syntax::parse_ip_sloppy(ip) {
            parsed.push(address);
        } else {
            invalid = true;
            errs.push(FieldError::invalid(
                &ips_path.index(i),
                go_quote(ip),
                INVALID_IP,
            ));
        }
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            go_string_slice(ips),
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return;
    }
    if parsed.len() > 1 {
        let v4 = parsed.iter().filter(|ip| syntax::is_ipv4(**ip)).count();
        if v4 == 0 || v4 == parsed.len() {
            errs.push(FieldError::invalid(
                &ips_path,
                go_string_slice(ips),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if !is_headless(ips) {
        for (i, (ip, family)) in ips.iter().zip(&s.ip_families).enumerate() {
            let is_v6 = syntax::parse_ip_sloppy(ip).is_some_and(|ip| !syntax::is_ipv4(ip));
            let expected = match family.as_str() {
                "IPv4" if is_v6 => Some("IPv4"),
                "IPv6" if !is_v6 => Some("IPv6"),
                _ => None,
            };
            if let Some(expected) = expected {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    go_quote(ip),
                    format!("expected an {expected} value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

/// upstream `ValidateService` on external IPs: `IsValidIP`, and `ValidateNonSpecialIP` when
/// that passes.
fn validate_external_ip(ip: &str, path: &Path, errs: &mut Errors) {
    match syntax::parse_ip_sloppy(ip) {
        Some(address) => {
            for message in syntax::special_ip_messages(ip, address) {
                errs.push(FieldError::invalid(path, go_quote(ip), message));
            }
        }
        None => errs.push(FieldError::invalid(path, go_quote(ip), INVALID_IP)),
    }
}

/// upstream `ValidateService`: no nodePort on ClusterIP Services; unique (protocol, nodePort)
/// and (protocol, port) pairs. skiff also checks a nodePort is a port number (upstream's
/// allocator checks the 30000-32767 range later).
fn validate_node_ports(service: &Service, kind: &str, spec: &Path, errs: &mut Errors) {
    let ports_path = spec.child("ports");
    let node_port = |port: &ServicePort| port.node_port.filter(|p| *p != 0);
    for (i, port) in service.spec.ports.iter().enumerate() {
        let Some(node_port) = node_port(port) else {
            continue;
        };
        let path = ports_path.index(i).child("nodePort");
        if kind == "ClusterIP" {
            errs.push(FieldError::forbidden(
                &path,
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        for message in syntax::port_num(i64::from(node_port)) {
            errs.push(FieldError::invalid(&path, node_port.to_string(), message));
        }
    }
    let mut node_ports = BTreeSet::new();
    for (i, port) in service.spec.ports.iter().enumerate() {
        let Some(node_port) = node_port(port) else {
            continue;
        };
        if !node_ports.insert((protocol_or_default(port.protocol.as_deref()), node_port)) {
            errs.push(FieldError::duplicate(
                &ports_path.index(i).child("nodePort"),
                node_port.to_string(),
            ));
        }
    }
    let mut ports = BTreeSet::new();
    for (i, port) in service.spec.ports.iter().enumerate() {
        let protocol = protocol_or_default(port.protocol.as_deref());
        if !ports.insert((protocol, port.port)) {
            // upstream prints the (protocol, port) key as a Go core.ServicePort struct.
            errs.push(FieldError::duplicate(
                &ports_path.index(i),
                format!(
                    "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, \
                     TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                    go_quote(protocol),
                    port.port
                ),
            ));
        }
    }
}

/// upstream `ValidateService`: loadBalancerSourceRanges, allocateLoadBalancerNodePorts and
/// loadBalancerClass belong to LoadBalancer Services (upstream reports the source ranges at
/// `spec.LoadBalancerSourceRanges`, capitalized).
fn validate_load_balancer_fields(service: &Service, kind: &str, spec: &Path, errs: &mut Errors) {
    let s = &service.spec;
    let load_balancer = kind == "LoadBalancer";
    if !s.load_balancer_source_ranges.is_empty() {
        let path = spec.child("LoadBalancerSourceRanges");
        if !load_balancer {
            errs.push(FieldError::forbidden(
                &path,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, range) in s.load_balancer_source_ranges.iter().enumerate() {
            let range = range.trim();
            if !syntax::is_valid_cidr(range) {
                errs.push(FieldError::invalid(
                    &path.index(i),
                    go_quote(range),
                    INVALID_CIDR,
                ));
            }
        }
    }
    if s.allocate_load_balancer_node_ports.is_some() && !load_balancer {
        errs.push(FieldError::forbidden(
            &spec.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if let Some(class) = &s.load_balancer_class {
        if load_balancer {
            meta::validate_label_name(class, &spec.child("loadBalancerClass"), errs);
        } else {
            errs.push(FieldError::forbidden(
                &spec.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
}

/// upstream `validateServiceExternalTrafficPolicy`, `validateServiceInternalTrafficFieldsValue`
/// and `validateServiceTrafficDistribution`. Unset policies are defaulted (`Cluster`).
fn validate_traffic_policies(service: &Service, kind: &str, spec: &Path, errs: &mut Errors) {
    const DISTRIBUTIONS: [&str; 3] = ["PreferClose", "PreferSameZone", "PreferSameNode"];
    let s = &service.spec;
    let externally_accessible = kind == "LoadBalancer"
        || kind == "NodePort"
        || (kind == "ClusterIP" && !s.external_ips.is_empty());
    let external_policy = s.external_traffic_policy.as_deref().unwrap_or("");
    if !externally_accessible && !external_policy.is_empty() {
        errs.push(FieldError::invalid(
            &spec.child("externalTrafficPolicy"),
            go_quote(external_policy),
            "may only be set for externally-accessible services",
        ));
    } else if !external_policy.is_empty() && !["Cluster", "Local"].contains(&external_policy) {
        errs.push(FieldError::not_supported(
            &spec.child("externalTrafficPolicy"),
            go_quote(external_policy),
            &["Cluster", "Local"],
        ));
    }
    let needs_health_check = kind == "LoadBalancer" && external_policy == "Local";
    if let Some(port) = s.health_check_node_port.filter(|p| *p != 0) {
        let path = spec.child("healthCheckNodePort");
        if needs_health_check {
            for message in syntax::port_num(i64::from(port)) {
                errs.push(FieldError::invalid(&path, port.to_string(), message));
            }
        } else {
            errs.push(FieldError::invalid(
                &path,
                port.to_string(),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    }
    if let Some(policy) = s
        .internal_traffic_policy
        .as_deref()
        .filter(|p| !["Cluster", "Local"].contains(p))
    {
        errs.push(FieldError::not_supported(
            &spec.child("internalTrafficPolicy"),
            go_quote(policy),
            &["Cluster", "Local"],
        ));
    }
    if let Some(distribution) = s
        .traffic_distribution
        .as_deref()
        .filter(|d| !DISTRIBUTIONS.contains(d))
    {
        errs.push(FieldError::not_supported(
            &spec.child("trafficDistribution"),
            go_quote(distribution),
            &DISTRIBUTIONS,
        ));
    }
}

/// upstream `ValidateEndpoints` / `validateEndpointSubsets`.
pub(crate) fn validate_endpoints(endpoints: &Endpoints, errs: &mut Errors) {
    meta::validate_object_meta(&endpoints.metadata, true, NameRule::Subdomain, errs);
    let subsets = Path::root("subsets");
    for (i, subset) in endpoints.subsets.iter().enumerate() {
        let path = subsets.index(i);
        if subset.addresses.is_empty() && subset.not_ready_addresses.is_empty() {
            errs.push(FieldError::required(
                &path,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (j, address) in subset.addresses.iter().enumerate() {
            validate_endpoint_address(address, &path.child("addresses").index(j), errs);
        }
        for (j, address) in subset.not_ready_addresses.iter().enumerate() {
            validate_endpoint_address(address, &path.child("notReadyAddresses").index(j), errs);
        }
        for (j, port) in subset.ports.iter().enumerate() {
            validate_endpoint_port(
                port,
                subset.ports.len() > 1,
                &path.child("ports").index(j),
                errs,
            );
        }
    }
}

/// upstream `validateEndpointAddress`: a valid, non-special IP; a DNS-label hostname; a
/// DNS-subdomain node name.
fn validate_endpoint_address(address: &EndpointAddress, path: &Path, errs: &mut Errors) {
    let ip_path = path.child("ip");
    if syntax::parse_ip_sloppy(&address.ip).is_none() {
        errs.push(FieldError::invalid(
            &ip_path,
            go_quote(&address.ip),
            INVALID_IP,
        ));
    }
    if let Some(hostname) = address.hostname.as_deref().filter(|h| !h.is_empty()) {
        for message in syntax::dns1123_label(hostname) {
            errs.push(FieldError::invalid(
                &path.child("hostname"),
                go_quote(hostname),
                message,
            ));
        }
    }
    if let Some(node_name) = &address.node_name {
        for message in syntax::dns1123_subdomain(node_name) {
            errs.push(FieldError::invalid(
                &path.child("nodeName"),
                go_quote(node_name),
                message,
            ));
        }
    }
    match syntax::parse_ip_sloppy(&address.ip) {
        Some(ip) => {
            for message in syntax::special_ip_messages(&address.ip, ip) {
                errs.push(FieldError::invalid(
                    &ip_path,
                    go_quote(&address.ip),
                    message,
                ));
            }
        }
        None => errs.push(FieldError::invalid(
            &ip_path,
            go_quote(&address.ip),
            "must be a valid IP address",
        )),
    }
}

/// upstream `validateEndpointPort`: names when several, port number, protocol (unset is TCP),
/// appProtocol.
fn validate_endpoint_port(port: &EndpointPort, require_name: bool, path: &Path, errs: &mut Errors) {
    let name = port.name.as_deref().unwrap_or("");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        for message in syntax::dns1123_label(name) {
            errs.push(FieldError::invalid(
                &path.child("name"),
                go_quote(name),
                message,
            ));
        }
    }
    for message in syntax::port_num(i64::from(port.port)) {
        errs.push(FieldError::invalid(
            &path.child("port"),
            port.port.to_string(),
            message,
        ));
    }
    if let Some(protocol) = port
        .protocol
        .as_deref()
        .filter(|p| !p.is_empty() && !PROTOCOLS.contains(p))
    {
        errs.push(FieldError::not_supported(
            &path.child("protocol"),
            go_quote(protocol),
            &PROTOCOLS,
        ));
    }
    if let Some(app_protocol) = &port.app_protocol {
        meta::validate_label_name(app_protocol, &path.child("appProtocol"), errs);
    }
}
