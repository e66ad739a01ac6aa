//! Cluster DNS: service names to ClusterIPs, as CoreDNS's `kubernetes` plugin answers A
//! queries and a pod's `/etc/resolv.conf` search path expands short names.
//!
//! A pod in namespace `<ns>` gets (upstream kubelet, `ClusterFirst` DNS policy)
//! `nameserver 10.96.0.10`, `search <ns>.svc.cluster.local svc.cluster.local cluster.local`
//! and `options ndots:5`: a name with fewer than five dots is tried with each search suffix
//! first, then as given. So from `default`, `web` is `web.default.svc.cluster.local`,
//! `web.prod` is `web.prod.svc.cluster.local`, and `web.prod.svc` is
//! `web.prod.svc.cluster.local`; a name ending in `.` is absolute.
//!
//! Only the A record of a service with a ClusterIP is modelled: headless services (their pod
//! A records), ExternalName CNAMEs, SRV records and pod records answer nothing here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use skiff_core::object::Service;

use crate::view::View;

/// The cluster domain kubelet and CoreDNS use by default (`--cluster-domain`).
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The kube-dns Service's ClusterIP in a kubeadm cluster: the tenth address of the service
/// range `10.96.0.0/12` (kubeadm `GetDNSIP`), the `nameserver` of every pod's resolv.conf.
pub const KUBE_DNS_CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// `options ndots:5`: names with fewer dots go through the search path first.
pub const NDOTS: usize = 5;

/// The cluster DNS of one cluster domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    domain: String,
}

impl Default for ClusterDns {
    fn default() -> Self {
        Self::new(CLUSTER_DOMAIN)
    }
}

impl ClusterDns {
    /// The DNS of `domain` (`cluster.local`); case and a trailing dot are ignored.
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    /// The cluster domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The search path of a pod in `namespace`.
    pub fn search_path(&self, namespace: &str) -> Vec<String> {
        let d = &self.domain;
        vec![
            format!("{namespace}.svc.{d}"),
            format!("svc.{d}"),
            d.clone(),
        ]
    }

    /// The fully qualified names a resolver tries for `name` from a pod in `namespace`, in
    /// order.
    pub fn candidates(&self, name: &str, namespace: &str) -> Vec<String> {
        let name = name.to_ascii_lowercase();
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_owned()];
        }
        let mut out: Vec<String> = Vec::new();
        let searched = name.matches('.').count() < NDOTS;
        if searched {
            out.extend(
                self.search_path(namespace)
                    .into_iter()
                    .map(|s| format!("{name}.{s}")),
            );
        }
        out.push(name.clone());
        out
    }

    /// `(service, namespace)` of a fully qualified `<svc>.<ns>.svc.<domain>`.
    fn service_of<'n>(&self, fqdn: &'n str) -> Option<(&'n str, &'n str)> {
        let rest = fqdn.strip_suffix(self.domain.as_str())?;
        let rest = rest.strip_suffix(".svc.")?;
        let (service, namespace) = rest.split_once('.')?;
        (!service.is_empty() && !namespace.is_empty() && !namespace.contains('.'))
            .then_some((service, namespace))
    }

    /// The ClusterIP `name` resolves to from a pod in `from_namespace`, looking services up
    /// in `services`.
    pub fn resolve<'a>(
        &self,
        name: &str,
        from_namespace: &str,
        services: impl IntoIterator<Item = &'a Service>,
    ) -> Option<Ipv4Addr> {
        let services: BTreeMap<(&str, &str), &Service> = services
            .into_iter()
            .map(|s| {
                (
                    (s.metadata.namespace_or_empty(), s.metadata.name_or_empty()),
                    s,
                )
            })
            .collect();
        self.candidates(name, from_namespace)
            .iter()
            .find_map(|fqdn| {
                let (service, namespace) = self.service_of(fqdn)?;
                services.get(&(namespace, service)).copied()
            })
            .and_then(cluster_ip)
    }

    /// [`ClusterDns::resolve`] over the Services of a view.
    pub fn resolve_in_view(
        &self,
        name: &str,
        from_namespace: &str,
        view: &View,
    ) -> Option<Ipv4Addr> {
        self.resolve(name, from_namespace, view.list::<Service>())
    }
}

/// A service's ClusterIP, when it has one (not headless, not ExternalName, IPv4).
fn cluster_ip(service: &Service) -> Option<Ipv4Addr> {
    if service.spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    service.spec.cluster_ip.as_deref()?.parse().ok()
}

/// [`ClusterDns::resolve`] in the default `cluster.local` domain.
pub fn resolve<'a>(
    name: &str,
    from_namespace: &str,
    services: impl IntoIterator<Item = &'a Service>,
) -> Option<Ipv4Addr> {
    ClusterDns::default().resolve(name, from_namespace, services)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(ns: &str, name: &str, ip: &str) -> Service {
        let mut s = Service::default();
        s.metadata.name = Some(name.into());
        s.metadata.namespace = Some(ns.into());
        s.spec.cluster_ip = Some(ip.into());
        s
    }

    fn services() -> Vec<Service> {
        let mut external = service("default", "ext", "");
        external.spec.type_ = Some("ExternalName".into());
        external.spec.cluster_ip = None;
        vec![
            service("default", "web", "10.96.0.12"),
            service("prod", "web", "10.96.3.4"),
            service("kube-system", "kube-dns", "10.96.0.10"),
            service("default", "db", "None"),
            external,
        ]
    }

    #[allow(clippy::unnecessary_wraps, reason = "compared with resolve's Option")]
    fn ip(a: u8, b: u8, c: u8, d: u8) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn every_service_name_form_resolves_to_the_cluster_ip() {
        let s = services();
        assert_eq!(resolve("web", "default", &s), ip(10, 96, 0, 12));
        assert_eq!(resolve("web.default", "prod", &s), ip(10, 96, 0, 12));
        assert_eq!(resolve("web.default.svc", "prod", &s), ip(10, 96, 0, 12));
        assert_eq!(
            resolve("web.default.svc.cluster.local", "prod", &s),
            ip(10, 96, 0, 12)
        );
        assert_eq!(
            resolve("WEB.Default.svc.cluster.local.", "prod", &s),
            ip(10, 96, 0, 12)
        );
        assert_eq!(
            resolve("kube-dns.kube-system", "default", &s),
            Some(KUBE_DNS_CLUSTER_IP)
        );
    }

    #[test]
    fn the_short_name_resolves_in_the_callers_namespace_only() {
        let s = services();
        assert_eq!(resolve("web", "prod", &s), ip(10, 96, 3, 4));
        assert_eq!(resolve("kube-dns", "default", &s), None);
        assert_eq!(resolve("web", "staging", &s), None);
    }

    #[test]
    fn headless_external_name_and_unknown_names_resolve_to_nothing() {
        let s = services();
        assert_eq!(resolve("db", "default", &s), None);
        assert_eq!(resolve("ext", "default", &s), None);
        assert_eq!(resolve("web.default.svc.other.local", "default", &s), None);
        assert_eq!(
            resolve("a.b.web.default.svc.cluster.local", "default", &s),
            None
        );
        assert_eq!(resolve("", "default", &s), None);
        assert_eq!(resolve(".", "default", &s), None);
    }

    #[test]
    fn the_cluster_domain_is_configurable() {
        let s = services();
        let dns = ClusterDns::new("corp.example.");
        assert_eq!(
            dns.resolve("web.prod.svc.corp.example", "default", &s),
            ip(10, 96, 3, 4)
        );
        assert_eq!(dns.resolve("web.default.svc.cluster.local.", "x", &s), None);
        assert_eq!(
            dns.search_path("prod"),
            ["prod.svc.corp.example", "svc.corp.example", "corp.example"]
        );
    }

    #[test]
    fn names_with_five_dots_are_tried_as_given_only() {
        let dns = ClusterDns::default();
        assert_eq!(
            dns.candidates("web", "default"),
            [
                "web.default.svc.cluster.local",
                "web.svc.cluster.local",
                "web.cluster.local",
                "web"
            ]
        );
        assert_eq!(dns.candidates("a.b.c.d.e.f", "default"), ["a.b.c.d.e.f"]);
    }
}
