//! `/version` and discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`).
//!
//! Aggregated discovery (`apidiscovery.k8s.io/v2`, every group's resources in one document at
//! `/api` and `/apis`) is served when the `Accept` header prefers it, as kubectl and kube-rs's
//! `Discovery::run_aggregated` ask; it is built from the legacy documents, so both always
//! agree. The OpenAPI documents are `openapi.rs`'s.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use skiff_core::object::{KindInfo, KindRegistry};

/// The Kubernetes release skiff's API corresponds to (kubectl's version dispatcher picks the
/// matching kubectl by `minor`).
pub const KUBERNETES_MINOR: &str = "33";

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0-skiff.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The group of the access reviews (`kubectl auth can-i`), served without stored kinds.
const AUTHORIZATION: &str = "authorization.k8s.io";

/// The API groups served besides the core group with their version, in upstream's discovery
/// order (built-in groups, then the custom kinds' groups in registration order).
fn groups(kinds: &KindRegistry) -> Vec<(&'static str, &'static str)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let builtin = KindRegistry::builtin();
    for info in builtin.kinds().filter(|k| !k.group.is_empty()) {
        if seen.insert(info.group) {
            out.push((info.group, info.version));
        }
        // Upstream lists events.k8s.io right after apps.
        if info.group == "apps" && seen.insert(EVENTS) {
            out.push((EVENTS, "v1"));
        }
    }
    out.push((AUTHORIZATION, "v1"));
    seen.insert(AUTHORIZATION);
    for custom in kinds.custom_kinds() {
        if seen.insert(custom.info.group) {
            out.push((custom.info.group, custom.info.version));
        }
    }
    out
}

/// The group of the second version of core/v1 Events (see `events.rs`).
const EVENTS: &str = super::events::GROUP;

/// `events.k8s.io/v1`: Events, the same stored objects as core/v1's.
fn events_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "events.k8s.io/v1",
        "resources": [{"name": "events", "singularName": "event", "namespaced": true,
                       "kind": "Event", "verbs": VERBS, "shortNames": ["ev"]}],
    })
}

/// `authorization.k8s.io/v1`: the access reviews (create only, cluster-scoped).
fn authorization_resources() -> Value {
    let review = |name: &str, kind: &str| {
        json!({"name": name, "singularName": "", "namespaced": false, "kind": kind,
               "verbs": ["create"]})
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "authorization.k8s.io/v1",
        "resources": [
            review("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
            review("subjectaccessreviews", "SubjectAccessReview"),
        ],
    })
}

/// `GET /api` (`APIVersions`).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json((group, version): (&str, &str)) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `GET /apis` (`APIGroupList`).
pub fn group_list(kinds: &KindRegistry) -> Value {
    let groups: Vec<Value> = groups(kinds).into_iter().map(group_json).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>` (`APIGroup`), if the group is served.
pub fn group(kinds: &KindRegistry, name: &str) -> Option<Value> {
    groups(kinds)
        .into_iter()
        .find(|(g, _)| *g == name)
        .map(|found| {
            let mut g = group_json(found);
            g["kind"] = "APIGroup".into();
            g["apiVersion"] = "v1".into();
            g
        })
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Kinds kubectl shows under `get all` (upstream's `all` category).
fn categories(info: &KindInfo) -> &'static [&'static str] {
    match info.kind {
        "Pod" | "ReplicationController" | "Service" | "ReplicaSet" | "Deployment" | "DaemonSet" => {
            &["all"]
        }
        _ => &[],
    }
}

/// Subresources of a kind: name, kind, group and version of what they serve, verbs.
fn subresources(
    kinds: &KindRegistry,
    info: &KindInfo,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
)> {
    let mut subs = Vec::new();
    let status_kinds = [
        "Pod",
        "ReplicaSet",
        "ReplicationController",
        "Deployment",
        "DaemonSet",
        "Service",
        "Node",
        "Namespace",
        "PersistentVolume",
        "PersistentVolumeClaim",
    ];
    let custom_status = kinds.custom_of(info).is_some_and(|c| c.status_subresource);
    if status_kinds.contains(&info.kind) || custom_status {
        subs.push(("status", info.kind, "", &["get", "patch", "update"][..]));
    }
    if matches!(
        info.kind,
        "ReplicaSet" | "ReplicationController" | "Deployment"
    ) {
        subs.push((
            "scale",
            "Scale",
            "autoscaling",
            &["get", "patch", "update"][..],
        ));
    }
    if info.kind == "Pod" {
        subs.push(("binding", "Binding", "", &["create"][..]));
    }
    subs
}

/// `GET /api/v1` or `GET /apis/<group>/<version>` (`APIResourceList`), if served.
pub fn resource_list(registry: &KindRegistry, group: &str, version: &str) -> Option<Value> {
    if (group, version) == (AUTHORIZATION, "v1") {
        return Some(authorization_resources());
    }
    if (group, version) == (EVENTS, "v1") {
        return Some(events_resources());
    }
    let kinds: Vec<&KindInfo> = registry
        .kinds()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for info in kinds {
        let mut r = Map::new();
        r.insert("name".into(), info.plural.into());
        r.insert("singularName".into(), info.singular.into());
        r.insert("namespaced".into(), info.namespaced.into());
        r.insert("kind".into(), info.kind.into());
        r.insert("verbs".into(), json!(VERBS));
        if !info.short_names.is_empty() {
            r.insert("shortNames".into(), json!(info.short_names));
        }
        if !categories(info).is_empty() {
            r.insert("categories".into(), json!(categories(info)));
        }
        resources.push(Value::Object(r));
        for (sub, kind, sub_group, verbs) in subresources(registry, info) {
            let mut s = Map::new();
            s.insert("name".into(), format!("{}/{sub}", info.plural).into());
            s.insert("singularName".into(), "".into());
            s.insert("namespaced".into(), info.namespaced.into());
            if !sub_group.is_empty() {
                s.insert("group".into(), sub_group.into());
                s.insert("version".into(), "v1".into());
            }
            s.insert("kind".into(), kind.into());
            s.insert("verbs".into(), json!(verbs));
            resources.push(Value::Object(s));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The media type of aggregated discovery, `apidiscovery.k8s.io/v2` (stable since 1.30).
pub const AGGREGATED_MEDIA_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One legacy `APIResourceList` as an aggregated `APIVersionDiscovery`: each resource with its
/// `responseKind`, `scope` and `singularResource`, its subresources (legacy `plural/sub`
/// entries) nested under it, as upstream's aggregated discovery shapes them.
fn version_discovery(group: &str, version: &str, list: &Value) -> Value {
    let empty = Vec::new();
    let entries = list["resources"].as_array().unwrap_or(&empty);
    let mut resources: Vec<Map<String, Value>> = Vec::new();
    for entry in entries {
        let name = entry["name"].as_str().unwrap_or_default();
        let kind_of = |e: &Value| {
            json!({
                "group": e["group"].as_str().unwrap_or(group),
                "version": e["version"].as_str().unwrap_or(version),
                "kind": e["kind"],
            })
        };
        if let Some((parent, sub)) = name.split_once('/') {
            if let Some(owner) = resources.iter_mut().find(|r| r["resource"] == parent) {
                let subs = owner
                    .entry("subresources")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(subs) = subs {
                    subs.push(json!({"subresource": sub, "responseKind": kind_of(entry),
                                     "verbs": entry["verbs"]}));
                }
            }
            continue;
        }
        let mut r = Map::new();
        r.insert("resource".into(), name.into());
        r.insert("responseKind".into(), kind_of(entry));
        let scope = if entry["namespaced"] == true {
            "Namespaced"
        } else {
            "Cluster"
        };
        r.insert("scope".into(), scope.into());
        r.insert("singularResource".into(), entry["singularName"].clone());
        r.insert("verbs".into(), entry["verbs"].clone());
        for key in ["shortNames", "categories"] {
            if let Some(v) = entry.get(key) {
                r.insert(key.into(), v.clone());
            }
        }
        resources.push(r);
    }
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

/// `GET /api` (`core`) or `GET /apis` asking for aggregated discovery
/// ([`AGGREGATED_MEDIA_TYPE`]): an `APIGroupDiscoveryList` with every group's resources in
/// one document, built from the same legacy documents. kube-rs's `Discovery::run_aggregated`
/// and kubectl (first choice) ask for it.
pub fn aggregated(registry: &KindRegistry, core: bool) -> Value {
    let groups = if core {
        vec![("", "v1")]
    } else {
        groups(registry)
    };
    let items: Vec<Value> = groups
        .into_iter()
        .filter_map(|(group, version)| {
            let list = resource_list(registry, group, version)?;
            let metadata = if group.is_empty() {
                json!({})
            } else {
                json!({"name": group})
            };
            Some(json!({"metadata": metadata,
                        "versions": [version_discovery(group, version, &list)]}))
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
           "metadata": {}, "items": items})
}

/// Whether an `Accept` header prefers aggregated discovery (v2) to the legacy documents: its
/// first range that either could serve decides (v2beta1 is not served, so it is skipped).
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    for range in accept.unwrap_or_default().split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
            continue;
        }
        let params: BTreeSet<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let has = |k: &str, v: &str| params.contains(&(k.to_owned(), v.to_owned()));
        if params.is_empty() {
            return false;
        }
        if has("as", "APIGroupDiscoveryList") && has("g", "apidiscovery.k8s.io") && has("v", "v2") {
            return true;
        }
    }
    false
}

/// The group-versions with stored kinds besides core/v1 (what the OpenAPI documents describe),
/// in discovery order.
pub fn schema_group_versions(kinds: &KindRegistry) -> Vec<(&'static str, &'static str)> {
    groups(kinds)
        .into_iter()
        .filter(|(g, _)| *g != AUTHORIZATION)
        .collect()
}
