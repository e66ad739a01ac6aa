//! Endpoints controller (upstream `pkg/controller/endpoint`): one `Endpoints` object per
//! Service with a selector, same namespace and name, listing the pods the selector matches.
//!
//! Rules, per Service (the key is the Service's):
//!
//! - A Service that is gone takes its Endpoints with it (upstream deletes them in
//!   `syncService`; uid precondition).
//! - A Service without a selector is left alone: its Endpoints are the user's.
//! - A pod counts when it matches the selector, is not terminal (`Succeeded`/`Failed`), has
//!   an IP, and is not being deleted (unless the Service publishes not-ready addresses,
//!   upstream `ShouldPodBeInEndpoints`). Ready pods (condition `Ready=True`) go to
//!   `addresses`, the others to `notReadyAddresses` (all to `addresses` with
//!   `publishNotReadyAddresses`).
//! - Each Service port resolves its `targetPort` per pod: a number as it is (unset or 0: the
//!   port itself), a name through the pod's container ports of that name and protocol
//!   (upstream `FindPort`); a pod without such a port is left out of that port.
//! - A headless Service (`clusterIP: None`) without ports lists addresses without ports; any
//!   other Service without ports lists nothing.
//! - Addresses are grouped into subsets by the set of ports they serve (upstream
//!   `RepackSubsets`), sorted (ports by name, port, protocol; addresses by IP then pod uid).
//! - The Endpoints carry the Service's labels (plus `service.kubernetes.io/headless` for a
//!   headless Service) and are written only when they change: Create when absent, Update with
//!   the stored resourceVersion as precondition.
//!
//! Not done: the `endpoints.kubernetes.io/last-change-trigger-time` annotation (it would make
//! the output depend on more than the view), truncation at 1000 addresses, hostnames from
//! `spec.hostname`/`spec.subdomain` are set as upstream but dual-stack families are reduced to
//! picking an IP of the Service's first family.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use skiff_core::client::DeleteOptions;
use skiff_core::object::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, HasKindInfo, IntOrString, Object,
    ObjectMeta, ObjectReference, Pod, Service, ServicePort, info,
};

use crate::reconcile::{Action, Controller, Output, Watched};
use crate::view::{ObjectKey, View};

#[cfg(test)]
mod tests;

/// Label upstream puts on the Endpoints of a headless Service.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// Whether the Service's selector (equality on every label) matches `labels`. An empty
/// selector matches nothing here: skiff cannot tell it from an absent one.
pub fn selects(service: &Service, labels: &BTreeMap<String, String>) -> bool {
    !service.spec.selector.is_empty()
        && service
            .spec
            .selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
}

/// upstream `IsPodReady`: the `Ready` condition is `True`.
pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .conditions
        .iter()
        .any(|c| c.r#type == "Ready" && c.status == "True")
}

fn pod_is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

/// The pod IP of the Service's family (the first of `ipFamilies`, else the cluster IP's).
fn pod_ip(service: &Service, pod: &Pod) -> Option<String> {
    let mut ips: Vec<&str> = pod.status.pod_ips.iter().map(|p| p.ip.as_str()).collect();
    if let Some(ip) = pod.status.pod_ip.as_deref() {
        ips.insert(0, ip);
    }
    ips.retain(|ip| !ip.is_empty());
    let want_v6 = match service.spec.ip_families.first() {
        Some(family) => family == "IPv6",
        None => service
            .spec
            .cluster_ip
            .as_deref()
            .is_some_and(|ip| ip.contains(':')),
    };
    ips.iter()
        .find(|ip| ip.contains(':') == want_v6)
        .or(ips.first())
        .map(|ip| (*ip).to_owned())
}

/// upstream `FindPort`: the container port a Service port's `targetPort` means on `pod`.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        None | Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// Sort and identity key of an endpoint port.
type PortKey = (String, i32, String, String);

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
        p.app_protocol.clone().unwrap_or_default(),
    )
}

/// Sort and identity key of an address: IP then pod uid (upstream `addressKey`).
type AddressKey = (String, String);

fn address_key(a: &EndpointAddress) -> AddressKey {
    (
        a.ip.clone(),
        a.target_ref
            .as_ref()
            .and_then(|r| r.uid.clone())
            .unwrap_or_default(),
    )
}

/// Addresses by key, each with whether it is ready.
type AddressSet = BTreeMap<AddressKey, (EndpointAddress, bool)>;
/// Ports and the addresses serving them.
type Group = (Vec<EndpointPort>, AddressSet);

/// The subsets the Service's pods make (see the module documentation).
pub fn desired_subsets(view: &View, service: &Service) -> Vec<EndpointSubset> {
    let namespace = service.metadata.namespace_or_empty();
    let publish_not_ready = service.spec.publish_not_ready_addresses == Some(true);
    let headless = service.spec.cluster_ip.as_deref() == Some("None");
    // Per port (None: the no-ports sentinel of a headless Service), the addresses serving it
    // and whether each is ready.
    let mut by_port: BTreeMap<Option<PortKey>, (EndpointPort, AddressSet)> = BTreeMap::new();
    for pod in view.list_in::<Pod>(namespace) {
        if !selects(service, &pod.metadata.labels)
            || pod_is_terminal(pod)
            || (pod.metadata.deletion_timestamp.is_some() && !publish_not_ready)
        {
            continue;
        }
        let Some(ip) = pod_ip(service, pod) else {
            continue;
        };
        let address = EndpointAddress {
            ip,
            hostname: pod.spec.hostname.clone().filter(|h| {
                !h.is_empty() && pod.spec.subdomain.as_deref() == service.metadata.name.as_deref()
            }),
            node_name: pod.spec.node_name.clone().filter(|n| !n.is_empty()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".to_owned()),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..ObjectReference::default()
            }),
        };
        let ready = publish_not_ready || pod_is_ready(pod);
        let key = address_key(&address);
        if service.spec.ports.is_empty() {
            if headless {
                by_port
                    .entry(None)
                    .or_insert_with(|| (EndpointPort::default(), BTreeMap::new()))
                    .1
                    .insert(key, (address, ready));
            }
            continue;
        }
        for service_port in &service.spec.ports {
            let Some(number) = find_port(pod, service_port) else {
                continue;
            };
            let port = EndpointPort {
                name: service_port.name.clone(),
                port: number,
                protocol: service_port.protocol.clone(),
                app_protocol: service_port.app_protocol.clone(),
            };
            by_port
                .entry(Some(port_key(&port)))
                .or_insert_with(|| (port, BTreeMap::new()))
                .1
                .insert(key.clone(), (address.clone(), ready));
        }
    }
    // Ports served by exactly the same addresses share a subset (upstream RepackSubsets).
    let mut groups: BTreeMap<Vec<(AddressKey, bool)>, Group> = BTreeMap::new();
    for (key, (port, addresses)) in by_port {
        let identity: Vec<(AddressKey, bool)> = addresses
            .iter()
            .map(|(k, (_, r))| (k.clone(), *r))
            .collect();
        let group = groups
            .entry(identity)
            .or_insert_with(|| (Vec::new(), addresses));
        if key.is_some() {
            group.0.push(port);
        }
    }
    let mut subsets: Vec<EndpointSubset> = groups
        .into_values()
        .map(|(ports, addresses)| {
            let mut subset = EndpointSubset {
                ports,
                ..EndpointSubset::default()
            };
            for (address, ready) in addresses.into_values() {
                if ready {
                    subset.addresses.push(address);
                } else {
                    subset.not_ready_addresses.push(address);
                }
            }
            subset
        })
        .collect();
    subsets.sort_by_key(subset_sort_key);
    subsets
}

fn subset_sort_key(s: &EndpointSubset) -> (Vec<PortKey>, Vec<AddressKey>, Vec<AddressKey>) {
    (
        s.ports.iter().map(port_key).collect(),
        s.addresses.iter().map(address_key).collect(),
        s.not_ready_addresses.iter().map(address_key).collect(),
    )
}

fn desired_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone();
    if service.spec.cluster_ip.as_deref() == Some("None") {
        labels.insert(LABEL_HEADLESS.to_owned(), String::new());
    } else {
        labels.remove(LABEL_HEADLESS);
    }
    labels
}

/// Reconciles the Endpoints of the Service at `key`.
pub fn reconcile_service(view: &View, key: &ObjectKey) -> Output {
    let existing = view.get::<Endpoints>(&key.namespace, &key.name);
    let Some(service) = view.get::<Service>(&key.namespace, &key.name) else {
        return existing.map_or_else(Output::none, |e| Output {
            actions: vec![Action::Delete {
                resource: &info::ENDPOINTS,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                options: DeleteOptions {
                    uid: e.metadata.uid.clone(),
                    ..DeleteOptions::default()
                },
            }],
            requeue_after: None,
        });
    };
    if service.spec.selector.is_empty() {
        return Output::none();
    }
    let subsets = desired_subsets(view, service);
    let labels = desired_labels(service);
    let action = match existing {
        None => Action::Create(
            Endpoints {
                metadata: ObjectMeta {
                    name: Some(key.name.clone()),
                    namespace: Some(key.namespace.clone()),
                    labels,
                    ..ObjectMeta::default()
                },
                subsets,
                ..Endpoints::default()
            }
            .into(),
        ),
        Some(e) if e.subsets == subsets && e.metadata.labels == labels => {
            return Output::none();
        }
        Some(e) => {
            let mut updated = e.clone();
            updated.subsets = subsets;
            updated.metadata.labels = labels;
            Action::Update(updated.into())
        }
    };
    Output {
        actions: vec![action],
        requeue_after: None,
    }
}

/// The Endpoints controller as the runtime runs it; keys are Services'.
#[derive(Debug, Clone, Default)]
pub struct EndpointsController;

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoint-controller"
    }

    fn watches(&self) -> Vec<Watched> {
        vec![
            Watched::all(&Service::INFO),
            Watched::all(&Pod::INFO),
            Watched::all(&Endpoints::INFO),
        ]
    }

    /// A Service: itself. Endpoints: their Service, when it has a selector (to repair them).
    /// A pod: the Services selecting it now, and those whose Endpoints list it (which it may
    /// have left).
    fn keys_for(&self, view: &View, object: &Object) -> Vec<ObjectKey> {
        match object {
            Object::Service(_) => vec![ObjectKey::of(object)],
            Object::Endpoints(_) => {
                let key = ObjectKey::of(object);
                let managed = view
                    .get::<Service>(&key.namespace, &key.name)
                    .is_some_and(|s| !s.spec.selector.is_empty());
                if managed { vec![key] } else { Vec::new() }
            }
            Object::Pod(pod) => {
                let namespace = pod.metadata.namespace_or_empty();
                let name = pod.metadata.name.as_deref();
                let mut keys: BTreeSet<ObjectKey> = view
                    .list_in::<Service>(namespace)
                    .filter(|s| selects(s, &pod.metadata.labels))
                    .map(|s| ObjectKey::new(namespace, s.metadata.name_or_empty()))
                    .collect();
                for endpoints in view.list_in::<Endpoints>(namespace) {
                    let lists = endpoints.subsets.iter().any(|s| {
                        s.addresses
                            .iter()
                            .chain(&s.not_ready_addresses)
                            .any(|a| a.target_ref.as_ref().and_then(|r| r.name.as_deref()) == name)
                    });
                    if lists {
                        keys.insert(ObjectKey::new(
                            namespace,
                            endpoints.metadata.name_or_empty(),
                        ));
                    }
                }
                keys.into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Every Service, and every Endpoints object (those left without a Service are deleted,
    /// upstream `checkLeftoverEndpoints`).
    fn resync_keys(&self, view: &View) -> Vec<ObjectKey> {
        let keys: BTreeSet<ObjectKey> = view
            .list::<Service>()
            .map(|s| ObjectKey::new(s.metadata.namespace_or_empty(), s.metadata.name_or_empty()))
            .chain(view.list::<Endpoints>().map(|e| {
                ObjectKey::new(e.metadata.namespace_or_empty(), e.metadata.name_or_empty())
            }))
            .collect();
        keys.into_iter().collect()
    }

    fn reconcile(&mut self, view: &View, key: &ObjectKey, _now: SystemTime) -> Output {
        reconcile_service(view, key)
    }
}
