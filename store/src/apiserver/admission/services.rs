//! The Service allocators (upstream `pkg/registry/core/service/storage`, `ipallocator`,
//! `portallocator`): the ranges, the planner that picks and records values, and the Service
//! field rules around them (`normalizeClusterIPs`, `patchAllocatedValues`,
//! `dropTypeDependentFields`, `initIPFamilyFields`). The policy is described in the parent
//! module's documentation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use skiff_core::event::Revision;
use skiff_core::object::{Service, ServicePort, ServiceSpec};
use skiff_core::validate::{FieldError, go_quote};

use super::{
    CLUSTER_IP_NETWORK, CLUSTER_IP_PREFIX_BITS, NODE_PORT_KEY_PREFIX, SERVICE_IP_KEY_PREFIX,
    SERVICE_NODE_PORT_RANGE, go_string_slice, internal, service_invalid,
};
use crate::apiserver::{ApiError, ApiServer, Status};
use crate::codec::StoredValue;
use crate::error::ReadError;
use crate::request::{Compare, Op, Txn};
use crate::store::ListOptions;

// ---------------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------------

/// upstream `calculateRangeOffset`: the size of the lower part of a range kept for requested
/// values, `min(max(min, size/step), max)`, or 0 for a range of at most `min` values.
pub(super) fn static_band(size: u64, min: u64, step: u64, max: u64) -> u64 {
    if size <= min {
        0
    } else {
        (size / step).clamp(min, max)
    }
}

/// The IPv4 Service range.
#[derive(Debug, Clone, Copy)]
pub(super) struct IpRange {
    pub(super) network: u32,
    pub(super) prefix_bits: u32,
}

impl IpRange {
    pub(super) fn service() -> Self {
        Self {
            network: u32::from_be_bytes(CLUSTER_IP_NETWORK),
            prefix_bits: CLUSTER_IP_PREFIX_BITS,
        }
    }

    /// Usable addresses: all but the network and broadcast ones (upstream `Range.max`).
    pub(super) fn usable(self) -> u64 {
        (1u64 << (32 - self.prefix_bits)).saturating_sub(2)
    }

    /// The offset of `ip` from the first usable address, when it is usable.
    pub(super) fn offset_of(self, ip: Ipv4Addr) -> Option<u64> {
        let offset = u64::from(u32::from(ip)).checked_sub(u64::from(self.network) + 1)?;
        (offset < self.usable()).then_some(offset)
    }

    pub(super) fn ip_at(self, offset: u64) -> Ipv4Addr {
        assert!(offset < self.usable(), "offset {offset} outside the range");
        let ip = u64::from(self.network) + 1 + offset;
        Ipv4Addr::from(u32::try_from(ip).expect("an IPv4 range holds IPv4 addresses"))
    }

    pub(super) fn first(self) -> Ipv4Addr {
        self.ip_at(0)
    }

    /// upstream ipallocator: min 16, step 16, max 256.
    pub(super) fn static_band(self) -> u64 {
        static_band(1u64 << (32 - self.prefix_bits), 16, 16, 256)
    }

    pub(super) fn cidr(self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.network), self.prefix_bits)
    }
}

/// The node port range.
#[derive(Debug, Clone, Copy)]
pub(super) struct PortRange {
    pub(super) base: i32,
    pub(super) last: i32,
}

impl PortRange {
    pub(super) fn service() -> Self {
        let (base, last) = SERVICE_NODE_PORT_RANGE;
        Self { base, last }
    }

    pub(super) fn size(self) -> u64 {
        u64::try_from(self.last - self.base + 1).unwrap_or(0)
    }

    pub(super) fn contains(self, port: i32) -> bool {
        (self.base..=self.last).contains(&port)
    }

    pub(super) fn port_at(self, offset: u64) -> i32 {
        assert!(offset < self.size(), "offset {offset} outside the range");
        self.base + i32::try_from(offset).expect("port offsets fit in 32 bits")
    }

    /// upstream portallocator: min 16, step 32, max 128.
    pub(super) fn static_band(self) -> u64 {
        static_band(self.size(), 16, 32, 128)
    }
}

/// The first offset in `band..size`, then in `0..band`, for which `taken` is false.
pub(super) fn first_free(size: u64, band: u64, mut taken: impl FnMut(u64) -> bool) -> Option<u64> {
    (band..size)
        .chain(0..band.min(size))
        .find(|offset| !taken(*offset))
}

pub(super) fn ip_key(ip: Ipv4Addr) -> String {
    format!("{SERVICE_IP_KEY_PREFIX}{ip}")
}

pub(super) fn port_key(port: i32) -> String {
    format!("{NODE_PORT_KEY_PREFIX}{port}")
}

/// Parses an IPv4 address as upstream's `ParseIPSloppy` does (leading zeros allowed).
pub(super) fn parse_ipv4_sloppy(value: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = value.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part
            .parse::<u16>()
            .ok()
            .and_then(|n| u8::try_from(n).ok())?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// upstream `familyOf`, for the families skiff knows.
pub(super) fn family_of(ip: &str) -> Option<&'static str> {
    if parse_ipv4_sloppy(ip).is_some() {
        Some("IPv4")
    } else if ip.contains(':') && ip.parse::<std::net::Ipv6Addr>().is_ok() {
        Some("IPv6")
    } else {
        None
    }
}

/// Why a value could not be allocated (upstream `ErrAllocated`, `ErrNotInRange`, `ErrFull`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AllocError {
    Allocated,
    NotInRange,
    Full,
}

/// One allocation key as read: its revision and its owner (a Service registry key).
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub(super) revision: Revision,
    pub(super) owner: Vec<u8>,
}

/// The keys one Service write takes and gives back.
#[derive(Debug, Default)]
pub(super) struct RangePlan {
    pub(super) take: Vec<String>,
    pub(super) give_back: Vec<(String, Revision)>,
}

/// Plans one Service's allocations against one read of both ranges and the claims in flight.
pub(super) struct Planner<'a> {
    pub(super) owner: String,
    pub(super) held: BTreeMap<String, Held>,
    pub(super) claimed: &'a BTreeSet<String>,
    pub(super) ips: IpRange,
    pub(super) ports: PortRange,
    pub(super) plan: RangePlan,
}

impl<'a> Planner<'a> {
    pub(super) fn read(
        server: &ApiServer,
        owner: String,
        claimed: &'a BTreeSet<String>,
    ) -> Result<Self, ApiError> {
        let mut held = BTreeMap::new();
        for prefix in [SERVICE_IP_KEY_PREFIX, NODE_PORT_KEY_PREFIX] {
            let page = server
                .store
                .list(prefix, &ListOptions::default())
                .map_err(store_read_failed)?;
            for entry in page.entries {
                let owner = match entry.stored.value {
                    StoredValue::Raw(bytes) => bytes,
                    StoredValue::Object(_) => Vec::new(),
                };
                held.insert(
                    entry.key,
                    Held {
                        revision: entry.stored.mod_revision,
                        owner,
                    },
                );
            }
        }
        Ok(Self {
            owner,
            held,
            claimed,
            ips: IpRange::service(),
            ports: PortRange::service(),
            plan: RangePlan::default(),
        })
    }

    pub(super) fn ours(&self, key: &str) -> bool {
        self.held
            .get(key)
            .is_some_and(|h| h.owner == self.owner.as_bytes())
    }

    /// Whether another Service holds `key`, or a write in flight claims it.
    pub(super) fn taken_by_other(&self, key: &str) -> bool {
        (self.held.contains_key(key) && !self.ours(key)) || self.claimed.contains(key)
    }

    /// Takes `key` for this Service. A key this Service already holds needs nothing; one
    /// this write already takes is refused unless `repeat_ok`.
    pub(super) fn take(&mut self, key: String, repeat_ok: bool) -> Result<(), AllocError> {
        if self.plan.take.contains(&key) {
            return if repeat_ok {
                Ok(())
            } else {
                Err(AllocError::Allocated)
            };
        }
        if self.taken_by_other(&key) {
            return Err(AllocError::Allocated);
        }
        if !self.held.contains_key(&key) {
            self.plan.take.push(key);
        }
        Ok(())
    }

    pub(super) fn take_ip(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        if self.ips.offset_of(ip).is_none() {
            return Err(AllocError::NotInRange);
        }
        self.take(ip_key(ip), false)
    }

    pub(super) fn next_ip(&mut self) -> Result<Ipv4Addr, AllocError> {
        let range = self.ips;
        let offset = first_free(range.usable(), range.static_band(), |offset| {
            let key = ip_key(range.ip_at(offset));
            self.held.contains_key(&key)
                || self.claimed.contains(&key)
                || self.plan.take.contains(&key)
        })
        .ok_or(AllocError::Full)?;
        let ip = range.ip_at(offset);
        self.plan.take.push(ip_key(ip));
        Ok(ip)
    }

    pub(super) fn take_port(&mut self, port: i32, repeat_ok: bool) -> Result<(), AllocError> {
        if !self.ports.contains(port) {
            return Err(AllocError::NotInRange);
        }
        self.take(port_key(port), repeat_ok)
    }

    pub(super) fn next_port(&mut self) -> Result<i32, AllocError> {
        let range = self.ports;
        let offset = first_free(range.size(), range.static_band(), |offset| {
            let key = port_key(range.port_at(offset));
            self.held.contains_key(&key)
                || self.claimed.contains(&key)
                || self.plan.take.contains(&key)
        })
        .ok_or(AllocError::Full)?;
        let port = range.port_at(offset);
        self.plan.take.push(port_key(port));
        Ok(port)
    }

    /// Gives `key` back when this Service holds it.
    pub(super) fn give_back(&mut self, key: &str) {
        if let Some(held) = self.held.get(key)
            && held.owner == self.owner.as_bytes()
            && !self.plan.give_back.iter().any(|(k, _)| k == key)
        {
            self.plan.give_back.push((key.to_owned(), held.revision));
        }
    }

    pub(super) fn ip_message(&self, requested: &str, error: &AllocError) -> String {
        let why = match error {
            AllocError::Allocated => "provided IP is already allocated".to_owned(),
            AllocError::NotInRange => format!(
                "the provided IP ({}) is not in the valid range. The range of valid IPs is {}",
                parse_ipv4_sloppy(requested)
                    .map_or_else(|| requested.to_owned(), |ip| ip.to_string()),
                self.ips.cidr()
            ),
            AllocError::Full => "range is full".to_owned(),
        };
        format!("failed to allocate IP {requested}: {why}")
    }

    pub(super) fn port_message(&self, error: &AllocError) -> String {
        match error {
            AllocError::Allocated => "provided port is already allocated".to_owned(),
            AllocError::NotInRange => format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                self.ports.base, self.ports.last
            ),
            AllocError::Full => "range is full".to_owned(),
        }
    }
}

pub(super) fn store_read_failed(e: ReadError) -> ApiError {
    match e {
        ReadError::Fatal(f) => ApiError::Fatal(f),
        other => Status::bad_request(other.to_string()).into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Service field helpers (upstream pkg/registry/core/service/storage)
// ---------------------------------------------------------------------------------------------

pub(super) fn service_type(spec: &ServiceSpec) -> &str {
    spec.type_
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP")
}

pub(super) fn needs_cluster_ip(spec: &ServiceSpec) -> bool {
    service_type(spec) != "ExternalName"
}

pub(super) fn needs_node_port(spec: &ServiceSpec) -> bool {
    matches!(service_type(spec), "NodePort" | "LoadBalancer")
}

/// upstream `NeedsHealthCheck`: a LoadBalancer whose external traffic stays node-local.
pub(super) fn needs_health_check_node_port(spec: &ServiceSpec) -> bool {
    service_type(spec) == "LoadBalancer" && spec.external_traffic_policy.as_deref() == Some("Local")
}

/// upstream `shouldAllocateNodePorts`.
pub(super) fn should_allocate_node_ports(spec: &ServiceSpec) -> bool {
    match service_type(spec) {
        "NodePort" => true,
        "LoadBalancer" => spec.allocate_load_balancer_node_ports != Some(false),
        _ => false,
    }
}

pub(super) fn node_port(port: &ServicePort) -> i32 {
    port.node_port.unwrap_or(0)
}

pub(super) fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ips.first().is_some_and(|ip| ip == "None")
}

pub(super) fn cluster_ip(spec: &ServiceSpec) -> &str {
    spec.cluster_ip.as_deref().unwrap_or("")
}

/// The allocation keys a stored Service holds: its in-range cluster IPs and its node ports
/// (with the health check port when it needs one).
pub(super) fn held_keys(spec: &ServiceSpec) -> Vec<String> {
    let mut keys = Vec::new();
    if needs_cluster_ip(spec) && !is_headless(spec) {
        let range = IpRange::service();
        for ip in &spec.cluster_ips {
            if let Some(ip) = parse_ipv4_sloppy(ip).filter(|ip| range.offset_of(*ip).is_some()) {
                keys.push(ip_key(ip));
            }
        }
    }
    keys.extend(node_ports_of(spec).into_iter().map(port_key));
    keys
}

/// The node ports a Service uses: its ports' and, when it needs one, its health check port.
pub(super) fn node_ports_of(spec: &ServiceSpec) -> BTreeSet<i32> {
    let mut ports: BTreeSet<i32> = spec
        .ports
        .iter()
        .map(node_port)
        .filter(|p| *p != 0)
        .collect();
    if needs_health_check_node_port(spec)
        && let Some(port) = spec.health_check_node_port.filter(|p| *p != 0)
    {
        ports.insert(port);
    }
    ports
}

/// upstream `normalizeClusterIPs`: keeps `clusterIP` and `clusterIPs` in step.
pub(super) fn normalize_cluster_ips(new: &mut ServiceSpec, old: Option<&ServiceSpec>) {
    let Some(old) = old else {
        if !cluster_ip(new).is_empty() && new.cluster_ips.is_empty() {
            new.cluster_ips = vec![cluster_ip(new).to_owned()];
        }
        return;
    };
    if !old.cluster_ips.is_empty()
        && new.cluster_ips.is_empty()
        && cluster_ip(old) == cluster_ip(new)
    {
        new.cluster_ips.clone_from(&old.cluster_ips);
    }
    if cluster_ip(old) != cluster_ip(new) && old.cluster_ips == new.cluster_ips {
        if !cluster_ip(old).is_empty() && cluster_ip(new).is_empty() {
            new.cluster_ips.clear();
        } else {
            new.cluster_ips = vec![cluster_ip(new).to_owned()];
        }
    }
}

/// upstream `patchAllocatedValues`: values allocated on the client's behalf survive an
/// update that leaves them out (re-applying the same manifest).
pub(super) fn patch_allocated_values(new: &mut ServiceSpec, old: &ServiceSpec) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        if cluster_ip(new).is_empty() {
            new.cluster_ip.clone_from(&old.cluster_ip);
        }
        if new.cluster_ips.is_empty() && !old.cluster_ips.is_empty() {
            new.cluster_ips.clone_from(&old.cluster_ips);
        }
    }
    if needs_node_port(old) && needs_node_port(new) {
        let old_ports: BTreeSet<i32> = old
            .ports
            .iter()
            .map(node_port)
            .filter(|p| *p != 0)
            .collect();
        let new_ports: BTreeSet<i32> = new
            .ports
            .iter()
            .map(node_port)
            .filter(|p| *p != 0)
            .collect();
        let used: BTreeSet<i32> = old_ports.intersection(&new_ports).copied().collect();
        let by_name: BTreeMap<&str, i32> = old
            .ports
            .iter()
            .map(|p| (p.name.as_deref().unwrap_or(""), node_port(p)))
            .collect();
        for port in &mut new.ports {
            if node_port(port) == 0 {
                let old_value = by_name
                    .get(port.name.as_deref().unwrap_or(""))
                    .copied()
                    .unwrap_or(0);
                if old_value != 0 && !used.contains(&old_value) {
                    port.node_port = Some(old_value);
                }
            }
        }
    }
    if needs_health_check_node_port(old)
        && needs_health_check_node_port(new)
        && new.health_check_node_port.is_none_or(|p| p == 0)
    {
        new.health_check_node_port = old.health_check_node_port;
    }
}

/// upstream `dropTypeDependentFields`: fields a type change makes meaningless are cleared when
/// the client left them as they were.
pub(super) fn drop_type_dependent_fields(service: &mut Service, old: &ServiceSpec) {
    let new = &mut service.spec;
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        if cluster_ip(old) == cluster_ip(new) && old.cluster_ips == new.cluster_ips {
            new.cluster_ip = None;
            new.cluster_ips.clear();
        }
        if old.ip_families == new.ip_families {
            new.ip_families.clear();
        }
        if old.ip_family_policy == new.ip_family_policy {
            new.ip_family_policy = None;
        }
    }
    if needs_node_port(old) && !needs_node_port(new) {
        let old_ports: BTreeSet<i32> = old.ports.iter().map(node_port).collect();
        if new
            .ports
            .iter()
            .map(node_port)
            .filter(|p| *p != 0)
            .all(|p| old_ports.contains(&p))
        {
            for port in &mut new.ports {
                port.node_port = None;
            }
        }
    }
    if needs_health_check_node_port(old)
        && !needs_health_check_node_port(new)
        && old.health_check_node_port == new.health_check_node_port
    {
        new.health_check_node_port = None;
    }
    let was_load_balancer = service_type(old) == "LoadBalancer";
    let is_load_balancer = service_type(new) == "LoadBalancer";
    if was_load_balancer && !is_load_balancer {
        if old.allocate_load_balancer_node_ports.is_some()
            && new.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports
        {
            new.allocate_load_balancer_node_ports = None;
        }
        if new.load_balancer_class == old.load_balancer_class {
            new.load_balancer_class = None;
        }
    }
    if needs_node_port(old)
        && !needs_node_port(new)
        && new.external_traffic_policy == old.external_traffic_policy
    {
        new.external_traffic_policy = None;
    }
    if !is_load_balancer {
        service.status.load_balancer = None;
    }
}

/// upstream `initIPFamilyFields` on a single-stack IPv4 cluster: fills `ipFamilyPolicy` and
/// `ipFamilies`, and refuses what this cluster cannot serve.
pub(super) fn init_ip_family_fields(
    new: &mut ServiceSpec,
    old: Option<&ServiceSpec>,
) -> Vec<FieldError> {
    if !needs_cluster_ip(new) {
        return Vec::new();
    }
    let headless_selectorless = cluster_ip(new) == "None" && new.selector.is_empty();
    if new.ip_family_policy.is_none() {
        new.ip_family_policy = Some(match old.and_then(|o| o.ip_family_policy.clone()) {
            Some(policy) => policy,
            None if headless_selectorless => "RequireDualStack".to_owned(),
            None => "SingleStack".to_owned(),
        });
    }
    // Malformed IPs and families are validation's to report, in its words.
    if new
        .cluster_ips
        .iter()
        .enumerate()
        .any(|(i, ip)| !(i == 0 && ip == "None") && family_of(ip).is_none())
        || new.ip_families.iter().any(|f| f != "IPv4" && f != "IPv6")
    {
        return Vec::new();
    }
    let policy = new.ip_family_policy.clone().unwrap_or_default();
    let mut errors = match old {
        Some(old) => reconcile_secondary_families(new, old, &policy),
        None => Vec::new(),
    };
    if policy == "SingleStack" {
        if new.cluster_ips.len() == 2 {
            errors.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                go_quote(&policy),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if new.ip_families.len() == 2 {
            errors.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                go_quote(&policy),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    let ips = new.cluster_ips.clone();
    for (i, ip) in ips.iter().enumerate() {
        if ip == "None" {
            break;
        }
        let family = family_of(ip).unwrap_or("IPv4");
        if i >= new.ip_families.len() {
            if family == "IPv4" {
                new.ip_families.push(family.to_owned());
            } else {
                errors.push(FieldError::invalid(
                    format!("spec.clusterIPs[{i}]"),
                    go_string_slice(&ips),
                    format!("{family} is not configured on this cluster"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    if headless_selectorless {
        if new.ip_families.is_empty() {
            new.ip_families.push("IPv4".to_owned());
        }
        if new.ip_families.len() < 2 && policy != "SingleStack" {
            let other = if new.ip_families[0] == "IPv4" {
                "IPv6"
            } else {
                "IPv4"
            };
            new.ip_families.push(other.to_owned());
        }
        return Vec::new();
    }
    if policy == "RequireDualStack" {
        errors.push(FieldError::invalid(
            "spec.ipFamilyPolicy",
            go_quote(&policy),
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, family) in new.ip_families.iter().enumerate() {
        if family != "IPv4" {
            errors.push(FieldError::invalid(
                format!("spec.ipFamilies[{i}]"),
                go_quote(family),
                "not configured on this cluster",
            ));
        }
    }
    if errors.is_empty() && new.ip_families.is_empty() {
        new.ip_families.push("IPv4".to_owned());
    }
    errors
}

/// upstream `initIPFamilyFields`' update-only preparation: `SingleStack` drops an unchanged
/// secondary IP and family; any other policy may not drop them.
pub(super) fn reconcile_secondary_families(
    new: &mut ServiceSpec,
    old: &ServiceSpec,
    policy: &str,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if policy == "SingleStack" {
        if old.cluster_ips == new.cluster_ips && new.cluster_ips.len() > 1 {
            new.cluster_ips.truncate(1);
        }
        if old.ip_families == new.ip_families && new.ip_families.len() > 1 {
            new.ip_families.truncate(1);
        }
        return errors;
    }
    if !new.cluster_ips.is_empty() && new.cluster_ips.len() < old.cluster_ips.len() {
        errors.push(FieldError::invalid(
            "spec.ipFamilyPolicy",
            go_quote(policy),
            "must be 'SingleStack' to release the secondary cluster IP",
        ));
    }
    if !new.ip_families.is_empty() && new.ip_families.len() < old.ip_families.len() {
        errors.push(FieldError::invalid(
            "spec.ipFamilyPolicy",
            go_quote(policy),
            "must be 'SingleStack' to release the secondary IP family",
        ));
    }
    errors
}

/// upstream `ValidateServiceUpdate`: the primary cluster IP may not change while both the old
/// and the new Service use one.
pub(super) fn cluster_ip_immutable(new: &ServiceSpec, old: &ServiceSpec) -> Vec<FieldError> {
    if !needs_cluster_ip(old) || !needs_cluster_ip(new) {
        return Vec::new();
    }
    match (old.cluster_ips.first(), new.cluster_ips.first()) {
        (Some(was), Some(is)) if was != is => vec![FieldError::invalid(
            "spec.clusterIPs[0]",
            go_string_slice(&new.cluster_ips),
            "may not change once set",
        )],
        (Some(_), None) => vec![FieldError::invalid(
            "spec.clusterIPs[0]",
            "\"\"",
            "primary clusterIP can not be unset",
        )],
        _ => Vec::new(),
    }
}

/// upstream `allocClusterIPs`: one address per family (IPv4 only here), requested or next.
pub(super) fn allocate_cluster_ips(
    planner: &mut Planner<'_>,
    spec: &mut ServiceSpec,
) -> Result<(), Refusal> {
    if !needs_cluster_ip(spec) || is_headless(spec) {
        return Ok(());
    }
    let families = spec.ip_families.len().max(1);
    while spec.cluster_ips.len() < families {
        spec.cluster_ips.push(String::new());
    }
    for i in 0..families {
        let requested = spec.cluster_ips[i].clone();
        let ip = if requested.is_empty() {
            planner.next_ip().map_err(|_| {
                Refusal::Internal("failed to allocate a serviceIP: range is full".to_owned())
            })?
        } else {
            let Some(ip) = parse_ipv4_sloppy(&requested) else {
                // Validation reports a malformed address.
                continue;
            };
            if let Err(error) = planner.take_ip(ip) {
                let message = planner.ip_message(&requested, &error);
                return Err(Refusal::field(
                    "spec.clusterIPs",
                    go_string_slice(&spec.cluster_ips),
                    message,
                ));
            }
            spec.cluster_ips[i].clone_from(&requested);
            continue;
        };
        spec.cluster_ips[i] = ip.to_string();
    }
    spec.cluster_ip = spec.cluster_ips.first().cloned();
    Ok(())
}

/// On an update that keeps its cluster IPs (immutable, checked in admission): an address whose
/// allocation key went missing is recorded again.
pub(super) fn keep_cluster_ips(
    planner: &mut Planner<'_>,
    spec: &ServiceSpec,
) -> Result<(), Refusal> {
    if !needs_cluster_ip(spec) {
        return Ok(());
    }
    for requested in &spec.cluster_ips {
        if let Some(ip) = parse_ipv4_sloppy(requested)
            && planner.ips.offset_of(ip).is_some()
            && !planner.held.contains_key(&ip_key(ip))
        {
            planner.take_ip(ip).map_err(|e| {
                let message = planner.ip_message(requested, &e);
                Refusal::field(
                    "spec.clusterIPs",
                    go_string_slice(&spec.cluster_ips),
                    message,
                )
            })?;
        }
    }
    Ok(())
}

/// Why a Service's allocation failed, before the Service's name is attached.
#[derive(Debug)]
pub(super) enum Refusal {
    /// 422: a requested value is taken or out of range.
    Invalid(FieldError),
    /// 500: a range is full (upstream reports an internal error).
    Internal(String),
}

impl Refusal {
    pub(super) fn field(field: &str, value: String, detail: String) -> Self {
        Refusal::Invalid(FieldError::invalid(field, value, detail))
    }

    pub(super) fn status(self, name: &str) -> Status {
        match self {
            Refusal::Invalid(error) => service_invalid(name, &[error]),
            Refusal::Internal(why) => internal(&why),
        }
    }
}

/// upstream `initNodePorts` (create): requested node ports are taken, missing ones
/// allocated; ports sharing a `port` number (TCP and UDP) share a node port.
pub(super) fn allocate_node_ports_create(
    planner: &mut Planner<'_>,
    spec: &mut ServiceSpec,
) -> Result<(), Refusal> {
    if !needs_node_port(spec) {
        return Ok(());
    }
    let allocate = should_allocate_node_ports(spec);
    let mut by_port: BTreeMap<i32, i32> = BTreeMap::new();
    for i in 0..spec.ports.len() {
        let port = spec.ports[i].port;
        let requested = node_port(&spec.ports[i]);
        if requested == 0 && !allocate {
            continue;
        }
        let chosen = match by_port.get(&port).copied() {
            None => {
                let wanted = spec
                    .ports
                    .iter()
                    .find(|p| p.port == port && node_port(p) != 0)
                    .map_or(0, node_port);
                if wanted == 0 {
                    planner.next_port().map_err(|e| {
                        Refusal::Internal(format!(
                            "failed to allocate a nodePort: {}",
                            planner.port_message(&e)
                        ))
                    })?
                } else {
                    planner.take_port(wanted, false).map_err(|e| {
                        Refusal::field(
                            &format!("spec.ports[{i}].nodePort"),
                            wanted.to_string(),
                            planner.port_message(&e),
                        )
                    })?;
                    wanted
                }
            }
            Some(shared) if requested == 0 || requested == shared => shared,
            Some(_) => {
                planner.take_port(requested, false).map_err(|e| {
                    Refusal::field(
                        &format!("spec.ports[{i}].nodePort"),
                        requested.to_string(),
                        planner.port_message(&e),
                    )
                })?;
                requested
            }
        };
        by_port.entry(port).or_insert(chosen);
        spec.ports[i].node_port = Some(chosen);
    }
    Ok(())
}

/// upstream `updateNodePorts`: node ports the old Service did not hold are taken or
/// allocated.
pub(super) fn allocate_node_ports_update(
    planner: &mut Planner<'_>,
    spec: &mut ServiceSpec,
    old_ports: &BTreeSet<i32>,
) -> Result<(), Refusal> {
    if !needs_node_port(spec) {
        return Ok(());
    }
    let allocate = should_allocate_node_ports(spec);
    for i in 0..spec.ports.len() {
        let requested = node_port(&spec.ports[i]);
        if requested == 0 && !allocate {
            continue;
        }
        if requested == 0 {
            let port = planner.next_port().map_err(|e| {
                Refusal::Internal(format!(
                    "failed to allocate a nodePort: {}",
                    planner.port_message(&e)
                ))
            })?;
            spec.ports[i].node_port = Some(port);
        } else if !old_ports.contains(&requested) || !planner.ours(&port_key(requested)) {
            planner.take_port(requested, true).map_err(|e| {
                Refusal::field(
                    &format!("spec.ports[{i}].nodePort"),
                    requested.to_string(),
                    planner.port_message(&e),
                )
            })?;
        }
    }
    Ok(())
}

/// upstream `allocHealthCheckNodePort`, when the Service needs one it does not hold.
pub(super) fn allocate_health_check_node_port(
    planner: &mut Planner<'_>,
    spec: &mut ServiceSpec,
    old_ports: &BTreeSet<i32>,
) -> Result<(), Refusal> {
    if !needs_health_check_node_port(spec) {
        return Ok(());
    }
    match spec.health_check_node_port.filter(|p| *p != 0) {
        Some(port) if old_ports.contains(&port) && planner.ours(&port_key(port)) => Ok(()),
        Some(port) => planner.take_port(port, false).map_err(|e| {
            Refusal::Internal(format!(
                "failed to allocate requested HealthCheck NodePort {port}: {}",
                planner.port_message(&e)
            ))
        }),
        None => {
            let port = planner.next_port().map_err(|e| {
                Refusal::Internal(format!(
                    "failed to allocate a HealthCheck NodePort 0: {}",
                    planner.port_message(&e)
                ))
            })?;
            spec.health_check_node_port = Some(port);
            Ok(())
        }
    }
}

/// The transaction of one Service write: `op`, guarded by the Service's revision when given,
/// taking `plan.take` (each absent) and giving back `plan.give_back` (each unchanged).
pub(super) fn range_txn(
    op: Op,
    service_revision: Option<Revision>,
    plan: &RangePlan,
    owner: &str,
) -> Txn {
    let mut compare = Vec::new();
    if let Some(revision) = service_revision {
        compare.push(Compare::ModRevision(owner.to_owned(), revision));
    }
    compare.extend(plan.take.iter().map(|key| Compare::Absent(key.clone())));
    compare.extend(
        plan.give_back
            .iter()
            .map(|(key, revision)| Compare::ModRevision(key.clone(), *revision)),
    );
    let mut success = vec![op];
    success.extend(plan.take.iter().map(|key| Op::PutRaw {
        key: key.clone(),
        value: owner.as_bytes().to_vec(),
    }));
    success.extend(plan.give_back.iter().map(|(key, _)| Op::Delete {
        key: key.clone(),
        expected: None,
    }));
    Txn {
        compare,
        success,
        failure: Vec::new(),
    }
}
