//! `events.k8s.io/v1` Events: a second version of the stored core/v1 Event.
//!
//! Upstream keeps one resource for both APIs (`/registry/events/`) and converts between the
//! versions on every request; skiff does the same at the HTTP layer: a request under
//! `/apis/events.k8s.io/v1/…events…` has its body renamed to core/v1 field names, is served by
//! the core Event resource, and every Event in the answer (object, list, watch line) is
//! renamed back. The field mapping (upstream `pkg/apis/events/v1` conversion):
//!
//! | events.k8s.io/v1 | core/v1 |
//! |---|---|
//! | `note` | `message` |
//! | `regarding` | `involvedObject` |
//! | `reportingController` | `reportingComponent` |
//! | `deprecatedSource` | `source` |
//! | `deprecatedFirstTimestamp` | `firstTimestamp` |
//! | `deprecatedLastTimestamp` | `lastTimestamp` |
//! | `deprecatedCount` | `count` |
//!
//! `related`, `reportingInstance`, `series`, `action`, `type`, `reason` and `eventTime` keep
//! their names. Authorization is by the request's group, as upstream: the caller needs the
//! verb on `events` in `events.k8s.io` (asked as an access review), and the core resource is
//! then served as the API server itself (the group check has been made). Creation runs
//! upstream's stricter events.k8s.io/v1 validation (`ValidateEventCreate` for a version other
//! than core/v1) before the core validation every Event gets.

use bytes::Bytes;
use serde_json::{Map, Value};
use skiff_core::client::AccessReview;
use skiff_core::object::{Object, info};
use skiff_core::status::Status;
use skiff_core::validate;
use skiff_store::apiserver::authn::UserInfo;
use skiff_store::apiserver::authz::{self, Attributes};
use skiff_store::wire::{Request, Response};
use tokio::sync::mpsc;

use super::query::Query;
use super::{HttpBody, HttpError, HttpRequest, HttpResponse};

/// The group.
pub const GROUP: &str = "events.k8s.io";
/// `apiVersion` of its Events.
pub const API_VERSION: &str = "events.k8s.io/v1";
/// The qualified kind upstream names in an events.k8s.io refusal.
pub const QUALIFIED_KIND: &str = "Event.events.k8s.io";

/// (events.k8s.io/v1 name, core/v1 name) of the fields that differ.
const RENAMES: [(&str, &str); 7] = [
    ("note", "message"),
    ("regarding", "involvedObject"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename_keys(object: &mut Map<String, Value>, to_core: bool) {
    let old = std::mem::take(object);
    for (key, value) in old {
        let renamed = RENAMES
            .iter()
            .find(|(v1, core)| if to_core { *v1 == key } else { *core == key })
            .map_or(key.as_str(), |(v1, core)| if to_core { core } else { v1 })
            .to_owned();
        object.insert(renamed, value);
    }
}

/// An events.k8s.io/v1 Event (or a partial one: a merge or apply patch) with core/v1 field
/// names; `apiVersion: events.k8s.io/v1` becomes `v1`.
///
/// # Errors
/// A core/v1 field name (`message`, `involvedObject`, …) is no field of events.k8s.io/v1:
/// refused as an unknown field, as upstream's strict decoding refuses it.
pub fn to_core(mut value: Value) -> Result<Value, HttpError> {
    if let Value::Object(object) = &mut value {
        if let Some((_, core)) = RENAMES.iter().find(|(_, core)| object.contains_key(*core)) {
            return Err(HttpError::bad_request(format!(
                "Event in version \"v1\" cannot be handled as a Event: strict decoding error: \
                 unknown field \"{core}\""
            )));
        }
        rename_keys(object, true);
        if object.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION) {
            object.insert("apiVersion".into(), "v1".into());
        }
    }
    Ok(value)
}

/// A core/v1 Event as events.k8s.io/v1 (other JSON is returned unchanged).
pub fn from_core(mut value: Value) -> Value {
    if let Value::Object(object) = &mut value
        && object.get("kind").and_then(Value::as_str) == Some("Event")
    {
        rename_keys(object, false);
        object.insert("apiVersion".into(), API_VERSION.into());
    }
    value
}

/// A response body of the core Event resource as events.k8s.io/v1: an Event, an `EventList`
/// (each item), a watch line's object; a `Status` or a `Table` is left as it is.
pub fn response_from_core(value: Value) -> Value {
    match value.get("kind").and_then(Value::as_str) {
        Some("Event") => from_core(value),
        Some("EventList") => {
            let mut value = value;
            value["apiVersion"] = API_VERSION.into();
            if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
                for item in items.iter_mut() {
                    *item = from_core(std::mem::take(item));
                    item["kind"] = "Event".into();
                }
            }
            value
        }
        _ => value,
    }
}

/// One watch line (`{"type":…,"object":…}`) as events.k8s.io/v1; a bookmark's kind and
/// apiVersion too.
fn watch_line(line: &[u8]) -> Vec<u8> {
    let Ok(mut event) = serde_json::from_slice::<Value>(line) else {
        return line.to_vec();
    };
    let object = event["object"].take();
    let is_bookmark = event["type"] == "BOOKMARK";
    event["object"] = if is_bookmark && object["kind"] == "Event" {
        let mut object = object;
        object["apiVersion"] = API_VERSION.into();
        object
    } else {
        response_from_core(object)
    };
    // `type` first, as upstream writes the line.
    let mut out = Map::new();
    out.insert("type".into(), event["type"].take());
    out.insert("object".into(), event["object"].take());
    let mut bytes = serde_json::to_vec(&Value::Object(out)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Rewrites a core Event watch stream as events.k8s.io/v1, line by line.
pub fn watch_stream(mut core: mpsc::Receiver<Bytes>) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(super::WATCH_LINES_BUFFERED);
    tokio::spawn(async move {
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = core.recv().await {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let converted = watch_line(&line[..line.len() - 1]);
                if tx.send(Bytes::from(converted)).await.is_err() {
                    return;
                }
            }
        }
        if !pending.is_empty() {
            let _ = tx.send(Bytes::from(watch_line(&pending))).await;
        }
    });
    rx
}

/// A JSON patch (RFC 6902) on events.k8s.io/v1 paths as one on core/v1 paths.
pub fn json_patch_to_core(mut patch: Value) -> Value {
    if let Some(ops) = patch.as_array_mut() {
        for op in ops {
            for key in ["path", "from"] {
                if let Some(path) = op.get(key).and_then(Value::as_str) {
                    let renamed = rename_pointer(path);
                    op[key] = renamed.into();
                }
            }
        }
    }
    patch
}

fn rename_pointer(path: &str) -> String {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (first, tail) = rest
        .split_once('/')
        .map_or((rest, None), |(a, b)| (a, Some(b)));
    let first = RENAMES
        .iter()
        .find(|(v1, _)| *v1 == first)
        .map_or(first, |(_, core)| core);
    match tail {
        Some(tail) => format!("/{first}/{tail}"),
        None => format!("/{first}"),
    }
}

/// The RBAC verb of a request on the events collection or one event.
pub fn verb(method: &str, named: bool, watch: bool) -> &'static str {
    match (method, named) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

impl super::HttpApi {
    /// A request under `/apis/events.k8s.io/v1/` (`rest` is the path after the version):
    /// authorized by its own group, converted to the core Event resource and back.
    pub(super) async fn events_v1(
        &self,
        user: &UserInfo,
        request: &HttpRequest,
        rest: &[&str],
        query: &str,
    ) -> Result<HttpResponse, HttpError> {
        let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
        let target = super::parse_target(&self.kinds, "", "v1", &rest)?;
        if target.info.kind != "Event" || target.subresource.is_some() {
            return Err(HttpError::not_found_path());
        }
        let parsed = Query::parse(query);
        let verb = verb(&request.method, target.name.is_some(), parsed.flag("watch"));
        if verb.is_empty() {
            return Err(HttpError::method_not_allowed());
        }
        let namespace = target.namespace.clone().unwrap_or_default();
        let name = target.name.clone().unwrap_or_default();
        let review = AccessReview {
            verb: verb.into(),
            group: GROUP.into(),
            resource: "events".into(),
            namespace: namespace.clone(),
            name: name.clone(),
            ..AccessReview::default()
        };
        let Response::Access(decision) = self.call(user, Request::AccessReview { review }).await?
        else {
            return Err(super::unexpected());
        };
        if !decision.allowed {
            let mut attrs = Attributes::resource_in(user, verb, GROUP, "events");
            if !namespace.is_empty() {
                attrs = attrs.namespace(&namespace);
            }
            if !name.is_empty() {
                attrs = attrs.name(&name);
            }
            return Err(authz::forbidden(&attrs, &decision.reason).into());
        }
        let mut inner = request.clone();
        if matches!(verb, "create" | "update" | "patch") {
            let body: Value = serde_json::from_slice(&request.body)
                .map_err(|e| HttpError::bad_request(format!("invalid body: {e}")))?;
            let converted = if super::content_type(request) == "application/json-patch+json" {
                json_patch_to_core(body)
            } else {
                to_core(body)?
            };
            inner.body = serde_json::to_vec(&converted).unwrap_or_default();
            if verb == "create" {
                let object = super::decode_object(&self.kinds, &info::EVENT, &inner.body)?;
                if let Object::Event(event) = &object {
                    let errors = validate::validate_event_v1_create(event);
                    if !errors.is_empty() {
                        let name = event.metadata.name.as_deref().unwrap_or_default();
                        return Ok(error_response(
                            &Status::invalid(QUALIFIED_KIND, name, &errors).into(),
                        ));
                    }
                }
            }
        }
        // The group's check is made: the stored resource is served as the API server itself.
        let response = match self
            .resource(&super::unsecured_user(), &inner, &parsed, target)
            .await
        {
            Ok(response) => response,
            Err(error) => return Ok(error_response(&error)),
        };
        Ok(match response.body {
            HttpBody::Stream(stream) => HttpResponse {
                body: HttpBody::Stream(watch_stream(stream)),
                ..response
            },
            HttpBody::Full(bytes) if response.content_type == "application/json" => {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(value) => HttpResponse::json(response.status, &response_from_core(value)),
                    Err(_) => HttpResponse {
                        body: HttpBody::Full(bytes),
                        ..response
                    },
                }
            }
            HttpBody::Full(bytes) => HttpResponse {
                body: HttpBody::Full(bytes),
                ..response
            },
        })
    }
}

/// A refusal of the core resource as events.k8s.io's: the resource and kind qualified by the
/// group (`events.events.k8s.io "x" not found`, `Event.events.k8s.io "x" is invalid`), the
/// details naming the group.
fn error_response(error: &HttpError) -> HttpResponse {
    let mut status = error.to_json();
    if let Some(message) = status["message"].as_str() {
        let qualified = if let Some(rest) = message.strip_prefix("events \"") {
            Some(format!("events.{GROUP} \"{rest}"))
        } else {
            message
                .strip_prefix("Event \"")
                .map(|rest| format!("{QUALIFIED_KIND} \"{rest}"))
        };
        if let Some(qualified) = qualified {
            status["message"] = qualified.into();
        }
    }
    if let Some(details) = status.get_mut("details").and_then(Value::as_object_mut)
        && matches!(
            details.get("kind").and_then(Value::as_str),
            Some("events" | "Event")
        )
    {
        details.insert("group".into(), GROUP.into());
    }
    HttpResponse::json(error.code, &status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_event_renames_to_core_and_back() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e"}, "note": "hi", "regarding": {"kind": "Pod"},
            "reportingController": "c", "deprecatedCount": 2, "eventTime": "t"});
        let core = to_core(v1.clone()).unwrap();
        assert_eq!(
            core,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                "message": "hi", "involvedObject": {"kind": "Pod"},
                "reportingComponent": "c", "count": 2, "eventTime": "t"})
        );
        assert_eq!(from_core(core), v1);
    }

    #[test]
    fn core_field_name_in_v1_body_is_unknown() {
        let err = to_core(json!({"message": "x", "note": "y"})).unwrap_err();
        assert_eq!(
            err.message,
            "Event in version \"v1\" cannot be handled as a Event: strict decoding error: \
             unknown field \"message\""
        );
    }

    #[test]
    fn json_patch_paths_are_renamed() {
        let patch = json_patch_to_core(json!([
            {"op": "replace", "path": "/note", "value": "x"},
            {"op": "add", "path": "/regarding/name", "value": "p"},
            {"op": "remove", "path": "/reason"}
        ]));
        assert_eq!(
            patch,
            json!([
                {"op": "replace", "path": "/message", "value": "x"},
                {"op": "add", "path": "/involvedObject/name", "value": "p"},
                {"op": "remove", "path": "/reason"}
            ])
        );
    }
}
