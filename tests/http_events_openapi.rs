//! `events.k8s.io/v1` Events (the core Events' second version) and the OpenAPI documents
//! (`/openapi/v2`, `/openapi/v3`), request by request with exact bodies.

#![allow(
    clippy::similar_names,
    reason = "`code`/`core` name the status and the core/v1 object"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use skiff::core::clock::ManualClock;
use skiff::core::object::{DynamicKind, KindRegistry};
use skiff::http::{HttpApi, HttpBody, HttpRequest, HttpResponse};
use skiff::store::apiserver::authn::Authenticator;
use skiff::store::apiserver::{ApiHandler, ApiServer};
use skiff::store::{Backing, OpenOptions, Store};

const ADMIN: &str = "Bearer admin-token";

struct Fixture {
    http: HttpApi,
    viewer: String,
}

async fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let store = Store::open(Backing::Memory, clock.clone()).unwrap();
    let api = Arc::new(ApiServer::new(store, clock.clone(), 7));
    api.bootstrap().await.unwrap();
    let authn = Authenticator::with_key([7; 32], "admin-token");
    let viewer = format!(
        "Bearer {}",
        authn.issue_service_account_token("default", "default")
    );
    let http = HttpApi::new(Arc::new(ApiHandler::new(api, authn)), clock);
    Fixture { http, viewer }
}

impl Fixture {
    async fn send(&self, request: HttpRequest) -> HttpResponse {
        self.http.handle(request).await
    }

    async fn as_user(&self, token: &str, method: &str, uri: &str, body: &str) -> (u16, Value) {
        let r = self
            .send(
                HttpRequest::new(method, uri)
                    .header("Authorization", token)
                    .body(body),
            )
            .await;
        (r.status, r.json_body())
    }

    async fn admin(&self, method: &str, uri: &str, body: &str) -> (u16, Value) {
        self.as_user(ADMIN, method, uri, body).await
    }
}

/// The object without the fields the server fills in (uid, resourceVersion, timestamps).
fn without_server_fields(mut object: Value) -> Value {
    if let Some(meta) = object["metadata"].as_object_mut() {
        for key in ["uid", "resourceVersion", "creationTimestamp", "generation"] {
            meta.remove(key);
        }
    }
    object
}

const EVENTS_V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const CORE_EVENTS: &str = "/api/v1/namespaces/default/events";

fn v1_event() -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web-0.1", "namespace": "default"},
        "eventTime": "2024-05-01T12:00:00.123456Z",
        "reportingController": "example.com/operator",
        "reportingInstance": "operator-7f9",
        "action": "Scaling",
        "reason": "ScaledUp",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-0", "apiVersion": "v1"},
        "related": {"kind": "Node", "name": "node-1"},
        "note": "scaled up to 3",
        "type": "Normal",
        "series": {"count": 2, "lastObservedTime": "2024-05-01T12:05:00.000001Z"}
    })
}

#[tokio::test]
async fn event_created_in_events_v1_reads_back_through_core_v1() {
    let f = fixture().await;
    let (code, created) = f.admin("POST", EVENTS_V1, &v1_event().to_string()).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(without_server_fields(created), v1_event());
    let (code, core) = f.admin("GET", &format!("{CORE_EVENTS}/web-0.1"), "").await;
    assert_eq!(code, 200);
    assert_eq!(
        without_server_fields(core),
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web-0.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0", "apiVersion": "v1"},
            "reason": "ScaledUp",
            "message": "scaled up to 3",
            "type": "Normal",
            "eventTime": "2024-05-01T12:00:00.123456Z",
            "series": {"count": 2, "lastObservedTime": "2024-05-01T12:05:00.000001Z"},
            "action": "Scaling",
            "related": {"kind": "Node", "name": "node-1"},
            "reportingComponent": "example.com/operator",
            "reportingInstance": "operator-7f9"
        })
    );
}

#[tokio::test]
async fn core_event_reads_as_events_v1_in_get_list_and_patch() {
    let f = fixture().await;
    let core = json!({
        "metadata": {"name": "web-0.2"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0"},
        "reason": "Scheduled",
        "message": "Successfully assigned default/web-0 to node-1",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2024-05-01T12:00:00Z",
        "lastTimestamp": "2024-05-01T12:00:00Z",
        "count": 1,
        "type": "Normal"
    });
    let (code, body) = f.admin("POST", CORE_EVENTS, &core.to_string()).await;
    assert_eq!(code, 201, "{body}");
    let expected = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web-0.2", "namespace": "default"},
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-0"},
        "reason": "Scheduled",
        "note": "Successfully assigned default/web-0 to node-1",
        "deprecatedSource": {"component": "default-scheduler"},
        "deprecatedFirstTimestamp": "2024-05-01T12:00:00Z",
        "deprecatedLastTimestamp": "2024-05-01T12:00:00Z",
        "deprecatedCount": 1,
        "type": "Normal"
    });
    let (code, got) = f.admin("GET", &format!("{EVENTS_V1}/web-0.2"), "").await;
    assert_eq!(code, 200);
    assert_eq!(without_server_fields(got), expected);
    let (code, list) = f.admin("GET", EVENTS_V1, "").await;
    assert_eq!(code, 200);
    assert_eq!(
        (list["kind"].as_str(), list["apiVersion"].as_str()),
        (Some("EventList"), Some("events.k8s.io/v1"))
    );
    assert_eq!(without_server_fields(list["items"][0].clone()), expected);
    // A merge patch in the new API's names changes the core fields.
    let r = f
        .send(
            HttpRequest::new("PATCH", &format!("{EVENTS_V1}/web-0.2"))
                .header("Authorization", ADMIN)
                .header("Content-Type", "application/merge-patch+json")
                .body(r#"{"note":"moved","deprecatedCount":2}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json_body());
    assert_eq!(
        (
            r.json_body()["note"].clone(),
            r.json_body()["deprecatedCount"].clone()
        ),
        (json!("moved"), json!(2))
    );
    let (_, core) = f.admin("GET", &format!("{CORE_EVENTS}/web-0.2"), "").await;
    assert_eq!(
        (core["message"].clone(), core["count"].clone()),
        (json!("moved"), json!(2))
    );
    let (code, _) = f.admin("DELETE", &format!("{EVENTS_V1}/web-0.2"), "").await;
    assert_eq!(code, 200);
    let (code, gone) = f.admin("GET", &format!("{EVENTS_V1}/web-0.2"), "").await;
    assert_eq!(code, 404);
    assert_eq!(
        gone["message"].as_str(),
        Some("events.events.k8s.io \"web-0.2\" not found")
    );
}

#[tokio::test]
async fn events_v1_create_requires_event_time_and_reporting_controller() {
    let f = fixture().await;
    let body = json!({
        "metadata": {"name": "bad"},
        "regarding": {"kind": "Pod", "name": "web-0"},
        "reason": "Started",
        "note": "x",
        "type": "Normal"
    });
    let (code, status) = f.admin("POST", EVENTS_V1, &body.to_string()).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"].as_str(),
        Some("Event.events.k8s.io \"bad\" is invalid: eventTime: Required value")
    );
    assert_eq!(
        status["details"],
        json!({"name": "bad", "group": "events.k8s.io", "kind": "Event",
               "causes": [{"reason": "FieldValueRequired", "message": "Required value",
                           "field": "eventTime"}]})
    );
    let mut body = body;
    body["eventTime"] = json!("2024-05-01T12:00:00.000000Z");
    body["type"] = json!("Info");
    body["deprecatedCount"] = json!(3);
    let (code, status) = f.admin("POST", EVENTS_V1, &body.to_string()).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"].as_str(),
        Some(
            "Event.events.k8s.io \"bad\" is invalid: [reportingController: Required value, \
             reportingController: Invalid value: \"\": name part must be non-empty, \
             reportingController: Invalid value: \"\": name part must consist of alphanumeric \
             characters, '-', '_' or '.', and must start and end with an alphanumeric character \
             (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
             '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), reportingInstance: Required value, action: Required value, \
             type: Invalid value: \"\": has invalid value: Info, \
             count: Invalid value: \"\": needs to be unset]"
        )
    );
    // As upstream, an empty controller is also no qualified name. The same event through
    // core/v1 needs no controller (the legacy rules without eventTime).
    let core = json!({"metadata": {"name": "ok"}, "involvedObject": {"kind": "Pod", "name": "web-0"},
                      "reason": "Started", "message": "x", "type": "Info"});
    let (code, _) = f.admin("POST", CORE_EVENTS, &core.to_string()).await;
    assert_eq!(code, 201);
}

#[tokio::test]
async fn events_v1_is_authorized_by_its_own_group() {
    let f = fixture().await;
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "recorder", "namespace": "default"},
        "rules": [{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "get"]}]
    });
    let (code, body) = f
        .admin(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
            &role.to_string(),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "recorder", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "recorder"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]
    });
    let (code, body) = f
        .admin(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            &binding.to_string(),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, created) = f
        .as_user(&f.viewer, "POST", EVENTS_V1, &v1_event().to_string())
        .await;
    assert_eq!(code, 201, "{created}");
    let (code, denied) = f
        .as_user(&f.viewer, "GET", &format!("{CORE_EVENTS}/web-0.1"), "")
        .await;
    assert_eq!(code, 403);
    assert_eq!(
        denied["message"].as_str(),
        Some(
            "events \"web-0.1\" is forbidden: User \"system:serviceaccount:default:default\" \
             cannot get resource \"events\" in API group \"\" in the namespace \"default\""
        )
    );
    let (code, denied) = f.as_user(&f.viewer, "GET", EVENTS_V1, "").await;
    assert_eq!(code, 403);
    assert_eq!(
        denied["message"].as_str(),
        Some(
            "events.events.k8s.io is forbidden: User \"system:serviceaccount:default:default\" \
             cannot list resource \"events\" in API group \"events.k8s.io\" in the namespace \
             \"default\""
        )
    );
}

#[tokio::test]
async fn discovery_lists_events_k8s_io_after_apps() {
    let f = fixture().await;
    let (_, groups) = f.admin("GET", "/apis", "").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(&names[..2], ["apps", "events.k8s.io"]);
    let (code, resources) = f.admin("GET", "/apis/events.k8s.io/v1", "").await;
    assert_eq!(code, 200);
    assert_eq!(
        resources["resources"],
        json!([{"name": "events", "singularName": "event", "namespaced": true, "kind": "Event",
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                          "update", "watch"],
                "shortNames": ["ev"]}])
    );
}

/// Every kind discovery lists (group, version, kind), from the legacy documents.
async fn discovered_kinds(f: &Fixture) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut group_versions = vec![(String::new(), "v1".to_owned())];
    let (_, groups) = f.admin("GET", "/apis", "").await;
    for g in groups["groups"].as_array().unwrap() {
        let gv = g["preferredVersion"]["version"]
            .as_str()
            .unwrap()
            .to_owned();
        group_versions.push((g["name"].as_str().unwrap().to_owned(), gv));
    }
    for (group, version) in group_versions {
        if group == "authorization.k8s.io" {
            continue; // access reviews: created, never stored, no schema
        }
        let path = if group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{group}/{version}")
        };
        let (_, list) = f.admin("GET", &path, "").await;
        for r in list["resources"].as_array().unwrap() {
            if !r["name"].as_str().unwrap().contains('/') {
                let kind = r["kind"].as_str().unwrap().to_owned();
                out.insert((group.clone(), version.clone(), kind));
            }
        }
    }
    out
}

fn gvks_of(schemas: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for schema in schemas.as_object().unwrap().values() {
        if let Some(list) = schema["x-kubernetes-group-version-kind"].as_array() {
            for gvk in list {
                out.insert((
                    gvk["group"].as_str().unwrap().to_owned(),
                    gvk["version"].as_str().unwrap().to_owned(),
                    gvk["kind"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_discovered_kind_has_a_schema_in_openapi_v2_and_v3() {
    let f = fixture().await;
    let kinds = discovered_kinds(&f).await;
    assert_eq!(kinds.len(), 21, "{kinds:?}");
    let (code, v2) = f.admin("GET", "/openapi/v2", "").await;
    assert_eq!(code, 200);
    assert_eq!(gvks_of(&v2["definitions"]), kinds);
    let (code, root) = f.admin("GET", "/openapi/v3", "").await;
    assert_eq!(code, 200);
    let mut v3 = BTreeSet::new();
    for (path, entry) in root["paths"].as_object().unwrap() {
        let (code, doc) = f
            .admin("GET", entry["serverRelativeURL"].as_str().unwrap(), "")
            .await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(doc["openapi"], "3.0.0");
        v3.extend(gvks_of(&doc["components"]["schemas"]));
    }
    assert_eq!(v3, kinds);
    // Every reference resolves.
    let text = v2.to_string();
    for (i, _) in text.match_indices("\"$ref\":\"#/definitions/") {
        let name = &text[i + 22..];
        let name = &name[..name.find('"').unwrap()];
        assert!(v2["definitions"].get(name).is_some(), "dangling {name}");
    }
}

#[tokio::test]
async fn openapi_schemas_carry_fields_types_required_and_our_descriptions() {
    let f = fixture().await;
    let (_, core) = f.admin("GET", "/openapi/v3/api/v1", "").await;
    let schemas = &core["components"]["schemas"];
    let event = &schemas["Event"];
    assert_eq!(event["required"], json!(["involvedObject"]));
    assert_eq!(
        event["description"].as_str(),
        Some(
            "A report that something happened to an object (upstream `core/v1.Event`).\n\n\
             Both the older fields (`source`, `firstTimestamp`, `lastTimestamp`, `count`) and \
             the newer ones (`eventTime`, `series`, `reportingComponent`, `reportingInstance`) \
             are typed: recorders in the wild write either set."
        )
    );
    assert_eq!(
        event["properties"]["count"],
        json!({"description": "How many times the event has occurred.", "type": "integer",
               "format": "int32", "nullable": true})
    );
    assert_eq!(
        event["properties"]["eventTime"],
        json!({"description": "When the event was first observed, to the microsecond.",
               "type": "string", "format": "date-time", "nullable": true})
    );
    assert_eq!(
        event["properties"]["involvedObject"],
        json!({"description": "The object this event is about.",
               "allOf": [{"$ref": "#/components/schemas/ObjectReference"}]})
    );
    let reference = &schemas["ObjectReference"];
    let fields: Vec<&String> = reference["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        fields,
        [
            "apiVersion",
            "fieldPath",
            "kind",
            "name",
            "namespace",
            "resourceVersion",
            "uid"
        ]
    );
    let (_, v2) = f.admin("GET", "/openapi/v2", "").await;
    assert_eq!(
        v2["definitions"]["Event"]["properties"]["involvedObject"],
        json!({"description": "The object this event is about.",
               "$ref": "#/definitions/ObjectReference"})
    );
    let (_, events) = f
        .admin("GET", "/openapi/v3/apis/events.k8s.io/v1", "")
        .await;
    let v1 = &events["components"]["schemas"]["io.k8s.api.events.v1.Event"];
    let fields: Vec<&String> = v1["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "action",
            "apiVersion",
            "deprecatedCount",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedSource",
            "eventTime",
            "kind",
            "metadata",
            "note",
            "reason",
            "regarding",
            "related",
            "reportingController",
            "reportingInstance",
            "series",
            "type"
        ]
    );
    assert_eq!(v1["required"], json!(["eventTime"]));
}

#[tokio::test]
async fn openapi_v2_is_served_as_protobuf_when_asked_first_and_406_for_other_types() {
    let f = fixture().await;
    let proto = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let r = f
        .send(
            HttpRequest::new("GET", "/openapi/v2")
                .header("Authorization", ADMIN)
                .header("Accept", proto),
        )
        .await;
    assert_eq!(
        (r.status, r.content_type),
        (
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        )
    );
    // Document.swagger (field 1) = "2.0", then Document.info (field 2): title, version.
    assert_eq!(
        &r.bytes()[..29],
        b"\x0a\x032.0\x12\x15\x0a\x0aKubernetes\x12\x07v1.33.0\x42"
    );
    let r = f
        .send(
            HttpRequest::new("GET", "/openapi/v2")
                .header("Authorization", ADMIN)
                .header("Accept", &format!("application/json, {proto}")),
        )
        .await;
    assert_eq!((r.status, r.content_type), (200, "application/json"));
    let r = f
        .send(
            HttpRequest::new("GET", "/openapi/v2")
                .header("Authorization", ADMIN)
                .header("Accept", "application/yaml"),
        )
        .await;
    assert_eq!(r.status, 406);
}

async fn next_line(response: &mut HttpResponse) -> Value {
    let HttpBody::Stream(rx) = &mut response.body else {
        panic!("not a stream: {}", response.json_body())
    };
    let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a watch line within 10 s")
        .expect("the stream is open");
    assert_eq!(chunk.last(), Some(&b'\n'), "one JSON object per line");
    serde_json::from_slice(&chunk).unwrap()
}

#[tokio::test]
async fn events_v1_watch_streams_core_events_in_the_new_shape() {
    let f = fixture().await;
    let (_, list) = f.admin("GET", EVENTS_V1, "").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = f
        .send(
            HttpRequest::new(
                "GET",
                &format!("{EVENTS_V1}?watch=true&resourceVersion={rv}"),
            )
            .header("Authorization", ADMIN),
        )
        .await;
    assert_eq!(watch.status, 200);
    let core = json!({"metadata": {"name": "w"}, "involvedObject": {"kind": "Pod", "name": "p"},
                      "reason": "Pulled", "message": "pulled", "count": 4});
    let (code, _) = f.admin("POST", CORE_EVENTS, &core.to_string()).await;
    assert_eq!(code, 201);
    let line = next_line(&mut watch).await;
    assert_eq!(line["type"], "ADDED");
    assert_eq!(
        without_server_fields(line["object"].clone()),
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
               "metadata": {"name": "w", "namespace": "default"},
               "regarding": {"kind": "Pod", "name": "p"}, "reason": "Pulled",
               "note": "pulled", "deprecatedCount": 4})
    );
}

#[tokio::test]
async fn a_custom_kind_has_a_preserve_unknown_fields_schema() {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let mut kinds = KindRegistry::builtin();
    kinds
        .register(DynamicKind::new("stable.example.com", "v1", "CronTab", "crontabs").define())
        .unwrap();
    let store = Store::open_with_kinds(
        Backing::Memory,
        clock.clone(),
        OpenOptions::default(),
        kinds,
    )
    .unwrap();
    let api = Arc::new(ApiServer::new(store, clock.clone(), 7));
    api.bootstrap().await.unwrap();
    let handler = Arc::new(ApiHandler::new(
        api,
        Authenticator::with_key([7; 32], "admin-token"),
    ));
    let f = Fixture {
        http: HttpApi::new(handler, clock),
        viewer: String::new(),
    };
    let (code, doc) = f
        .admin("GET", "/openapi/v3/apis/stable.example.com/v1", "")
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        doc["components"]["schemas"]["stable.example.com.v1.CronTab"],
        json!({
            "description": "CronTab (stable.example.com/v1), a custom kind registered with skiff; \
                            its fields other than the metadata are not described.",
            "type": "object",
            "properties": {
                "apiVersion": {"description": "Always `stable.example.com/v1`.", "type": "string"},
                "kind": {"description": "Always `CronTab`.", "type": "string"},
                "metadata": {"description": "Standard object metadata.",
                             "allOf": [{"$ref": "#/components/schemas/ObjectMeta"}]}
            },
            "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-group-version-kind":
                [{"group": "stable.example.com", "version": "v1", "kind": "CronTab"}]
        })
    );
    assert!(doc["components"]["schemas"]["ObjectMeta"].is_object());
    let (_, v2) = f.admin("GET", "/openapi/v2", "").await;
    assert_eq!(
        v2["definitions"]["stable.example.com.v1.CronTab"]["properties"]["metadata"],
        json!({"description": "Standard object metadata.", "$ref": "#/definitions/ObjectMeta"})
    );
}
