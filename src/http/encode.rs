//! The JSON shapes of upstream's API machinery: `Status`, `<Kind>List`, watch events and
//! server-side `Table`s (`meta.k8s.io/v1`).

use serde_json::{Map, Value, json};
use skiff_core::client::{ObjectList, WatchEvent};
use skiff_core::object::{KindInfo, Object, Time, resolve_resource};
use skiff_core::status::Status;

/// A refusal as the HTTP API sends it: upstream's `metav1.Status` with `status: Failure`.
/// Wider than [`Status`]: the HTTP layer has refusals of its own (404 for an unknown path,
/// 405, 406, 415).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// HTTP status code.
    pub code: u16,
    /// Upstream `StatusReason`.
    pub reason: &'static str,
    /// The message.
    pub message: String,
    /// The API's own status, when the refusal came from the API server (details and causes).
    pub status: Option<Box<Status>>,
}

impl HttpError {
    /// A refusal with no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            status: None,
        }
    }

    /// 404 for a path that names nothing (upstream's wording for an unknown resource path).
    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 `MethodNotAllowed` (upstream: `the server does not allow this method on the
    /// requested resource`).
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// The `Status` object.
    pub fn to_json(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), "Status".into());
        status.insert("apiVersion".into(), "v1".into());
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), "Failure".into());
        status.insert("message".into(), self.message.clone().into());
        status.insert("reason".into(), self.reason.into());
        let mut details = Map::new();
        if let Some(s) = &self.status {
            if let Some(name) = &s.name {
                details.insert("name".into(), name.clone().into());
            }
            if let Some(kind) = &s.kind {
                if s.reason == skiff_core::status::Reason::Invalid {
                    // A 422 names the kind, qualified by its group (`Deployment.apps`):
                    // upstream's details carry them apart.
                    let (kind, group) = kind.split_once('.').unwrap_or((kind, ""));
                    if !group.is_empty() {
                        details.insert("group".into(), group.into());
                    }
                    details.insert("kind".into(), kind.into());
                } else {
                    // Upstream names the group of the resource too (`"group":"apps"`).
                    if let Some(group) = resolve_resource(kind)
                        .map(|i| i.group)
                        .filter(|g| !g.is_empty())
                    {
                        details.insert("group".into(), group.into());
                    }
                    details.insert("kind".into(), kind.clone().into());
                }
            }
            if !s.causes.is_empty() {
                let causes = s
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".into(), Value::Array(causes));
            }
        }
        if !details.is_empty() || self.reason == "NotFound" {
            status.insert("details".into(), Value::Object(details));
        }
        status.insert("code".into(), self.code.into());
        Value::Object(status)
    }
}

impl From<Status> for HttpError {
    fn from(status: Status) -> Self {
        Self {
            code: status.code(),
            reason: status.reason.as_str(),
            message: status.message.clone(),
            status: Some(Box::new(status)),
        }
    }
}

/// `Status` with `status: Success` (what a binding or a delete of some kinds returns).
pub fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}

/// Whether a delete that removed the object at once answers with the object itself: upstream's
/// generic registry sets `ReturnDeletedObject` for pods, services and service accounts only
/// (their storage.go); every other kind answers with a success `Status` (`finalizeDelete` in
/// apiserver's registry/generic/registry/store.go).
pub fn returns_deleted_object(info: &KindInfo) -> bool {
    info.group.is_empty() && matches!(info.plural, "pods" | "services" | "serviceaccounts")
}

/// The `Status` upstream answers a delete that removed the object at once with, for kinds
/// that do not return the object: `status: Success`, no `code`, and details naming the object
/// by its resource (`kind` holds the plural, as upstream's does), group and uid. Clients read
/// it as "deleted" (kube-rs: `Either::Right`); an object means "deletion in progress".
pub fn deleted_status(info: &KindInfo, object: &Object) -> Value {
    let meta = object.metadata();
    let mut details = Map::new();
    details.insert("name".into(), json!(meta.name_or_empty()));
    if !info.group.is_empty() {
        details.insert("group".into(), json!(info.group));
    }
    details.insert("kind".into(), json!(info.plural));
    if let Some(uid) = meta.uid.as_deref().filter(|u| !u.is_empty()) {
        details.insert("uid".into(), json!(uid));
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// An object as JSON (with its `apiVersion` and `kind`).
pub fn object(object: &Object) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// A list page: `<Kind>List` with `metadata.resourceVersion` (and `continue` when more pages
/// follow).
pub fn list(info: &KindInfo, list: &ObjectList) -> Value {
    let mut metadata = Map::new();
    metadata.insert(
        "resourceVersion".into(),
        list.resource_version.to_string().into(),
    );
    if let Some(token) = &list.continue_token {
        metadata.insert("continue".into(), token.clone().into());
    }
    json!({
        "kind": format!("{}List", info.kind),
        "apiVersion": info.api_version,
        "metadata": metadata,
        "items": list.items.iter().map(object).collect::<Vec<_>>(),
    })
}

/// What a Table row carries of its object (the `includeObject` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads the `includeObject` parameter.
    pub fn parse(value: Option<&str>) -> Result<Self, HttpError> {
        match value {
            None | Some("" | "Metadata") => Ok(Self::Metadata),
            Some("None") => Ok(Self::None),
            Some("Object") => Ok(Self::Object),
            Some(other) => Err(HttpError::bad_request(format!(
                "unrecognized includeObject value: {other:?}"
            ))),
        }
    }
}

/// How to render objects as a `Table`.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// The Table's apiVersion (`meta.k8s.io/v1` or `meta.k8s.io/v1beta1`).
    pub api_version: &'static str,
    /// What each row carries.
    pub include: IncludeObject,
    /// The time `AGE` is counted to.
    pub now: Time,
}

fn row_object(object: &Object, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => self::object(object),
        IncludeObject::Metadata => partial_metadata("meta.k8s.io/v1", object),
    }
}

/// A server-side `Table` of objects of one kind, with kubectl's columns (the same the CLI
/// prints; extra `-o wide` columns have priority 1). `columns: false` leaves the column
/// definitions out, as upstream does after a watch's first event.
pub fn table(
    info: &KindInfo,
    objects: &[Object],
    resource_version: Option<u64>,
    options: TableOptions,
    columns: bool,
) -> Value {
    let narrow = super::table::header(info, false);
    let wide = super::table::header(info, true);
    let definitions: Vec<Value> = if columns {
        wide.iter()
            .map(|name| {
                let priority = i32::from(!narrow.contains(name));
                let mut def = json!({
                    "name": title(name),
                    "type": "string",
                    "format": "",
                    "description": column_description(name),
                    "priority": priority,
                });
                if name == "NAME" {
                    def["format"] = "name".into();
                }
                def
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = super::table::row(o, options.now, true);
            json!({"cells": cells, "object": row_object(o, options.include)})
        })
        .collect();
    let mut metadata = Map::new();
    if let Some(rv) = resource_version {
        metadata.insert("resourceVersion".into(), rv.to_string().into());
    }
    json!({
        "kind": "Table",
        "apiVersion": options.api_version,
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// `RESTARTS` → `Restarts`, `CLUSTER-IP` → `Cluster-IP` (upstream's column names; kubectl
/// prints them upper-cased).
fn title(name: &str) -> String {
    match name {
        "CLUSTER-IP" => "Cluster-IP".into(),
        "EXTERNAL-IP" => "External-IP".into(),
        "PORT(S)" => "Port(s)".into(),
        "IP" => "IP".into(),
        _ => {
            let lower = name.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        }
    }
}

fn column_description(name: &str) -> &'static str {
    match name {
        "NAME" => "Name must be unique within a namespace.",
        "AGE" => {
            "CreationTimestamp is a timestamp representing the server time when this object was created."
        }
        "STATUS" => "The aggregate status of the object.",
        "READY" => "Ready replicas or containers.",
        "RESTARTS" => "The number of times the containers have been restarted.",
        "NODE" => "The node the pod is bound to.",
        "IP" => "The pod's IP address.",
        _ => "",
    }
}

/// What a watch line carries.
#[derive(Debug, Clone, Copy)]
pub enum WatchFormat {
    /// The objects themselves.
    Objects,
    /// One-row Tables.
    Table(TableOptions),
    /// `PartialObjectMetadata` of this apiVersion.
    Metadata(&'static str),
}

/// An object's metadata only (upstream `PartialObjectMetadata`).
pub fn partial_metadata(api_version: &str, object: &Object) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": api_version,
        "metadata": serde_json::to_value(object.metadata()).unwrap_or(Value::Null),
    })
}

/// A list page of metadata only (upstream `PartialObjectMetadataList`).
pub fn metadata_list(api_version: &str, list: &ObjectList) -> Value {
    let mut metadata = Map::new();
    metadata.insert(
        "resourceVersion".into(),
        list.resource_version.to_string().into(),
    );
    if let Some(token) = &list.continue_token {
        metadata.insert("continue".into(), token.clone().into());
    }
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": api_version,
        "metadata": metadata,
        "items": list.items.iter().map(|o| partial_metadata(api_version, o)).collect::<Vec<_>>(),
    })
}

/// One watch event as upstream's `{"type":…,"object":…}` line (with the newline), or `None`
/// for a bookmark the client did not ask for.
pub fn watch_line(
    info: &KindInfo,
    event: &WatchEvent,
    format: WatchFormat,
    bookmarks: bool,
    first: bool,
) -> Option<Vec<u8>> {
    let render = |o: &Object| match format {
        WatchFormat::Objects => object(o),
        WatchFormat::Metadata(version) => partial_metadata(version, o),
        WatchFormat::Table(options) => table(info, std::slice::from_ref(o), None, options, first),
    };
    let (type_, object) = match event {
        WatchEvent::Added(o) => ("ADDED", render(o)),
        WatchEvent::Modified(o) => ("MODIFIED", render(o)),
        WatchEvent::Deleted(o) => ("DELETED", render(o)),
        WatchEvent::Bookmark(rv) => {
            if !bookmarks {
                return None;
            }
            // A bookmark carries only the resourceVersion, with kind and apiVersion so typed
            // clients can decode it (kube-rs fails on a bookmark without them).
            (
                "BOOKMARK",
                json!({"kind": info.kind, "apiVersion": info.api_version,
                       "metadata": {"resourceVersion": rv.to_string()}}),
            )
        }
        WatchEvent::Error(status) => ("ERROR", HttpError::from(status.clone()).to_json()),
    };
    Some(line(type_, object))
}

/// `{"type":…,"object":…}` and a newline, `type` first as upstream writes it.
fn line(type_: &str, object: Value) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        type_: &'a str,
        object: Value,
    }
    let mut line = serde_json::to_vec(&Line { type_, object }).unwrap_or_default();
    line.push(b'\n');
    line
}

/// The bookmark that ends a watch-list's initial events (`sendInitialEvents=true`): upstream
/// annotates it `k8s.io/initial-events-end: "true"`.
pub fn initial_events_end(info: &KindInfo, resource_version: u64) -> Vec<u8> {
    line(
        "BOOKMARK",
        json!({"kind": info.kind, "apiVersion": info.api_version,
            "metadata": {"resourceVersion": resource_version.to_string(),
                         "annotations": {"k8s.io/initial-events-end": "true"}}}),
    )
}
