//! The HTTP/JSON API request by request: exact status codes and bodies as upstream shapes them
//! (Status objects, lists, Tables, watch lines, discovery), through the same authentication,
//! RBAC and admission as the wire protocol.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use skiff::core::clock::ManualClock;
use skiff::core::event::Actor;
use skiff::http::{HttpApi, HttpBody, HttpRequest, HttpResponse, serve};
use skiff::store::apiserver::authn::Authenticator;
use skiff::store::apiserver::{ApiHandler, ApiServer};
use skiff::store::{Backing, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "Bearer admin-token";

struct Fixture {
    http: HttpApi,
    store: Store,
    viewer: String,
}

async fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let store = Store::open(Backing::Memory, clock.clone()).unwrap();
    let api = Arc::new(ApiServer::new(store.clone(), clock.clone(), 7));
    api.bootstrap().await.unwrap();
    let authn = Authenticator::with_key([7; 32], "admin-token");
    let viewer = format!(
        "Bearer {}",
        authn.issue_service_account_token("default", "default")
    );
    let http = HttpApi::new(Arc::new(ApiHandler::new(api, authn)), clock);
    Fixture {
        http,
        store,
        viewer,
    }
}

impl Fixture {
    async fn send(&self, request: HttpRequest) -> HttpResponse {
        self.http.handle(request).await
    }

    async fn admin(&self, method: &str, uri: &str, body: &str) -> (u16, Value) {
        let r = self
            .send(
                HttpRequest::new(method, uri)
                    .header("Authorization", ADMIN)
                    .body(body),
            )
            .await;
        (r.status, r.json_body())
    }
}

const POD: &str = r#"{"metadata":{"name":"nginx","labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}"#;

#[tokio::test]
async fn version_and_health_need_no_credentials() {
    let f = fixture().await;
    let version = f.send(HttpRequest::new("GET", "/version")).await;
    assert_eq!(version.status, 200);
    let body = version.json_body();
    assert_eq!(
        (body["major"].as_str(), body["minor"].as_str()),
        (Some("1"), Some("33"))
    );
    let health = f.send(HttpRequest::new("GET", "/healthz")).await;
    assert_eq!((health.status, health.bytes()), (200, &b"ok"[..]));
    let ready = f.send(HttpRequest::new("GET", "/readyz?verbose")).await;
    assert_eq!((ready.status, ready.bytes()), (200, &b"ok"[..]));
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_status() {
    let f = fixture().await;
    let expected = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    let none = f.send(HttpRequest::new("GET", "/api/v1/pods")).await;
    assert_eq!((none.status, none.json_body()), (401, expected.clone()));
    let wrong = f
        .send(HttpRequest::new("GET", "/api").header("Authorization", "Bearer nope"))
        .await;
    assert_eq!((wrong.status, wrong.json_body()), (401, expected));
}

#[tokio::test]
async fn loopback_unsecured_serves_requests_without_credentials_as_an_admin() {
    let f = fixture().await;
    let http = f.http.loopback_unsecured(true);
    let r = http
        .handle(HttpRequest::new("GET", "/api/v1/namespaces"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()["kind"], "NamespaceList");
    // A token that is sent is still checked.
    let wrong = http
        .handle(HttpRequest::new("GET", "/api/v1/namespaces").header("authorization", "Bearer x"))
        .await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn discovery_lists_groups_kinds_verbs_short_names_and_subresources() {
    let f = fixture().await;
    let (code, api) = f.admin("GET", "/api", "").await;
    assert_eq!(code, 200);
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, groups) = f.admin("GET", "/apis", "").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "apps",
            "events.k8s.io",
            "rbac.authorization.k8s.io",
            "coordination.k8s.io",
            "authorization.k8s.io"
        ]
    );
    let (_, apps) = f.admin("GET", "/apis/apps/v1", "").await;
    let resources = apps["resources"].as_array().unwrap();
    assert_eq!(
        resources[0],
        json!({"name": "replicasets", "singularName": "replicaset", "namespaced": true,
            "kind": "ReplicaSet",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["rs"], "categories": ["all"]})
    );
    assert_eq!(
        resources[2],
        json!({"name": "replicasets/scale", "singularName": "", "namespaced": true,
            "group": "autoscaling", "version": "v1", "kind": "Scale",
            "verbs": ["get", "patch", "update"]})
    );
    let (_, core_v1) = f.admin("GET", "/api/v1", "").await;
    let nodes = core_v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "nodes")
        .unwrap();
    assert_eq!(nodes["namespaced"], false);
    assert_eq!(nodes["shortNames"], json!(["no"]));
    let (code, missing) = f.admin("GET", "/apis/batch/v1", "").await;
    assert_eq!(
        (code, missing),
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server could not find the requested resource", "reason": "NotFound",
            "details": {}, "code": 404})
        )
    );
}

/// kubectl's and kube-rs's discovery `Accept` header: aggregated v2 first, then v2beta1, then
/// the legacy documents.
const AGGREGATED_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[tokio::test]
async fn aggregated_discovery_is_served_when_the_accept_header_prefers_it() {
    let f = fixture().await;
    let get = |path: &str, accept: &str| {
        HttpRequest::new("GET", path)
            .header("Authorization", ADMIN)
            .header("Accept", accept)
    };
    let apis = f.send(get("/apis", AGGREGATED_ACCEPT)).await;
    assert_eq!(
        (apis.status, apis.content_type),
        (
            200,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
    );
    let apis = apis.json_body();
    assert_eq!(
        (&apis["kind"], &apis["apiVersion"]),
        (
            &json!("APIGroupDiscoveryList"),
            &json!("apidiscovery.k8s.io/v2")
        )
    );
    let names: Vec<&str> = apis["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "apps",
            "events.k8s.io",
            "rbac.authorization.k8s.io",
            "coordination.k8s.io",
            "authorization.k8s.io"
        ]
    );
    let apps_v1 = &apis["items"][0]["versions"][0];
    assert_eq!(
        (&apps_v1["version"], &apps_v1["freshness"]),
        (&json!("v1"), &json!("Current"))
    );
    assert_eq!(
        apps_v1["resources"][0],
        json!({"resource": "replicasets",
            "responseKind": {"group": "apps", "version": "v1", "kind": "ReplicaSet"},
            "scope": "Namespaced", "singularResource": "replicaset",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["rs"], "categories": ["all"],
            "subresources": [
                {"subresource": "status",
                 "responseKind": {"group": "apps", "version": "v1", "kind": "ReplicaSet"},
                 "verbs": ["get", "patch", "update"]},
                {"subresource": "scale",
                 "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                 "verbs": ["get", "patch", "update"]}]})
    );

    let core = f.send(get("/api", AGGREGATED_ACCEPT)).await.json_body();
    let items = core["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"], json!({}));
    let nodes = items[0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "nodes")
        .unwrap();
    assert_eq!(
        (&nodes["scope"], &nodes["responseKind"]),
        (
            &json!("Cluster"),
            &json!({"group": "", "version": "v1", "kind": "Node"})
        )
    );

    // Plain JSON, or v2beta1 only (not served), gets the legacy documents.
    for accept in [
        "application/json",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
    ] {
        let legacy = f.send(get("/apis", accept)).await;
        assert_eq!(legacy.content_type, "application/json");
        assert_eq!(legacy.json_body()["kind"], "APIGroupList");
    }
}

#[tokio::test]
async fn openapi_v3_and_v2_declare_server_side_field_validation() {
    let f = fixture().await;
    let (_, root) = f.admin("GET", "/openapi/v3", "").await;
    assert_eq!(
        root["paths"]["apis/apps/v1"],
        json!({"serverRelativeURL": "/openapi/v3/apis/apps/v1"})
    );
    let (_, apps) = f.admin("GET", "/openapi/v3/apis/apps/v1", "").await;
    let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
    let (code, v2) = f.admin("GET", "/openapi/v2", "").await;
    assert_eq!(code, 200);
    assert_eq!(
        v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]["parameters"]
            [0],
        json!({"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true})
    );
}

#[tokio::test]
async fn create_fills_kind_and_namespace_from_the_url_and_answers_201() {
    let f = fixture().await;
    let (code, pod) = f
        .admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    assert_eq!(code, 201);
    assert_eq!(
        (
            &pod["kind"],
            &pod["apiVersion"],
            &pod["metadata"]["namespace"],
            &pod["metadata"]["creationTimestamp"]
        ),
        (
            &json!("Pod"),
            &json!("v1"),
            &json!("default"),
            &json!("2023-11-14T22:13:20Z")
        )
    );
    let (code, again) = f
        .admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    assert_eq!(
        (code, again),
        (
            409,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "pods \"nginx\" already exists", "reason": "AlreadyExists",
            "details": {"name": "nginx", "kind": "pods"}, "code": 409})
        )
    );
    let (code, got) = f
        .admin("GET", "/api/v1/namespaces/default/pods/nginx", "")
        .await;
    assert_eq!((code, got), (200, pod));
}

#[tokio::test]
async fn bodies_are_decoded_strictly_with_field_paths() {
    let f = fixture().await;
    let (code, status) = f
        .admin(
            "POST",
            "/api/v1/namespaces/default/pods",
            r#"{"metadata":{"name":"x"},"spec":{"containerz":[]}}"#,
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(
        status["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: spec.containerz: unknown field `containerz`"
    );
    let (code, status) = f
        .admin(
            "POST",
            "/api/v1/namespaces/default/pods",
            r#"{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"x"}}"#,
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(
                "the API version in the data (apps/v1) does not match the expected API version (v1)"
            )
        )
    );
    let (code, status) = f
        .admin(
            "POST",
            "/api/v1/namespaces/default/pods",
            r#"{"metadata":{"name":"x","namespace":"other"},"spec":{"containers":[{"name":"a","image":"b"}]}}"#,
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(
                "the namespace of the provided object (other) does not match the namespace sent on the request (default)"
            )
        )
    );
}

#[tokio::test]
async fn an_invalid_object_is_422_with_causes() {
    let f = fixture().await;
    let (code, status) = f
        .admin(
            "POST",
            "/api/v1/namespaces/default/pods",
            r#"{"metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"a","image":"b"}]}}"#,
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["name"], "Bad_Name");
    // upstream NewInvalid: the details name the kind, and a cause's message leaves its field
    // to the `field` member.
    assert_eq!(status["details"]["kind"], "Pod");
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    assert!(
        status["details"]["causes"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{status}"
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldValueInvalid"
    );
}

#[tokio::test]
async fn lists_carry_kind_and_resource_version_and_honour_selectors() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let other = POD.replace(
        "nginx\",\"labels\":{\"app\":\"web\"}",
        "db\",\"labels\":{\"app\":\"db\"}",
    );
    f.admin("POST", "/api/v1/namespaces/default/pods", &other)
        .await;
    let (code, list) = f
        .admin(
            "GET",
            "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=500",
            "",
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        (&list["kind"], &list["apiVersion"]),
        (&json!("PodList"), &json!("v1"))
    );
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap();
    assert_eq!(rv, f.store.status().unwrap().revision.0.to_string());
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx"]);
    let (_, page) = f.admin("GET", "/api/v1/pods?limit=1", "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["metadata"]["continue"].is_string());
    let (code, bad) = f
        .admin("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx", "")
        .await;
    assert_eq!((code, &bad["reason"]), (400, &json!("BadRequest")));
}

#[tokio::test]
async fn tables_have_kubectls_columns_and_partial_object_metadata() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let r = f
        .send(
            HttpRequest::new("GET", "/api/v1/namespaces/default/pods?limit=500")
                .header("Authorization", ADMIN)
                .header(
                    "Accept",
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                ),
        )
        .await;
    assert_eq!(r.status, 200);
    let table = r.json_body();
    assert_eq!(
        (&table["kind"], &table["apiVersion"]),
        (&json!("Table"), &json!("meta.k8s.io/v1"))
    );
    let columns: Vec<(&str, i64)> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["priority"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1)
        ]
    );
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["nginx", "0/1", "Pending", "0", "0s", "<none>", "<none>"])
    );
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(
        table["rows"][0]["object"]["metadata"]["labels"],
        json!({"app": "web"})
    );
    let refused = f
        .send(
            HttpRequest::new("GET", "/api/v1/pods")
                .header("Authorization", ADMIN)
                .header("Accept", "application/vnd.kubernetes.protobuf"),
        )
        .await;
    assert_eq!(refused.status, 406);
}

async fn next_line(response: &mut HttpResponse) -> Option<Value> {
    let HttpBody::Stream(rx) = &mut response.body else {
        panic!("not a stream")
    };
    let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a watch line within 10 s")?;
    assert_eq!(chunk.last(), Some(&b'\n'), "one JSON object per line");
    Some(serde_json::from_slice(&chunk).unwrap())
}

#[tokio::test]
async fn watch_streams_one_event_per_line_from_the_list_revision() {
    let f = fixture().await;
    let (_, list) = f.admin("GET", "/api/v1/namespaces/default/pods", "").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = f
        .send(
            HttpRequest::new(
                "GET",
                &format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"),
            )
            .header("Authorization", ADMIN),
        )
        .await;
    assert_eq!(watch.status, 200);
    let (_, pod) = f
        .admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let added = next_line(&mut watch).await.unwrap();
    assert_eq!(added, json!({"type": "ADDED", "object": pod}));
    let patched = f
        .send(
            HttpRequest::new("PATCH", "/api/v1/namespaces/default/pods/nginx")
                .header("Authorization", ADMIN)
                .header("Content-Type", "application/merge-patch+json")
                .body(r#"{"metadata":{"labels":{"tier":"fe"}}}"#),
        )
        .await;
    assert_eq!(patched.status, 200);
    let modified = next_line(&mut watch).await.unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(
        modified["object"]["metadata"]["labels"],
        json!({"app": "web", "tier": "fe"})
    );
}

#[tokio::test]
async fn a_watch_without_resource_version_starts_with_the_current_state() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let mut watch = f
        .send(
            HttpRequest::new(
                "GET",
                "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1",
            )
            .header("Authorization", ADMIN),
        )
        .await;
    let first = next_line(&mut watch).await.unwrap();
    assert_eq!(
        (&first["type"], &first["object"]["metadata"]["name"]),
        (&json!("ADDED"), &json!("nginx"))
    );
    // timeoutSeconds ends the stream.
    assert_eq!(next_line(&mut watch).await, None);
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_gets_one_410_error_event() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let head = f.store.status().unwrap().revision;
    f.store.compact(&Actor::new("test"), head).await.unwrap();
    let mut watch = f
        .send(
            HttpRequest::new(
                "GET",
                "/api/v1/namespaces/default/pods?watch=true&resourceVersion=2",
            )
            .header("Authorization", ADMIN),
        )
        .await;
    assert_eq!(watch.status, 200);
    let error = next_line(&mut watch).await.unwrap();
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    assert_eq!(
        error["object"]["message"],
        format!("too old resource version: 2 ({})", head.0)
    );
    assert_eq!(next_line(&mut watch).await, None);
}

#[tokio::test]
async fn rbac_refuses_with_upstreams_forbidden_status() {
    let f = fixture().await;
    let r = f
        .send(
            HttpRequest::new("POST", "/api/v1/namespaces/default/pods")
                .header("Authorization", &f.viewer)
                .body(POD),
        )
        .await;
    assert_eq!(r.status, 403);
    let status = r.json_body();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"system:serviceaccount:default:default\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
    );
}

#[tokio::test]
#[allow(clippy::too_many_lines, reason = "one object through every verb")]
async fn update_patch_scale_and_delete_follow_upstream() {
    let f = fixture().await;
    let rs = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"a","image":"nginx"}]}}}}"#;
    let (code, created) = f
        .admin("POST", "/apis/apps/v1/namespaces/default/replicasets", rs)
        .await;
    assert_eq!(code, 201);
    let (code, scale) = f
        .admin(
            "GET",
            "/apis/apps/v1/namespaces/default/replicasets/web/scale",
            "",
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        (
            &scale["kind"],
            &scale["apiVersion"],
            &scale["spec"],
            &scale["status"]
        ),
        (
            &json!("Scale"),
            &json!("autoscaling/v1"),
            &json!({"replicas": 3}),
            &json!({"replicas": 0, "selector": "app=web"})
        )
    );
    let r = f
        .send(
            HttpRequest::new(
                "PATCH",
                "/apis/apps/v1/namespaces/default/replicasets/web/scale",
            )
            .header("Authorization", ADMIN)
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"spec":{"replicas":6}}"#),
        )
        .await;
    assert_eq!(
        (r.status, &r.json_body()["spec"]),
        (200, &json!({"replicas": 6}))
    );
    // A stale resourceVersion on PUT is a 409 Conflict.
    let old_version = created.to_string();
    let (code, conflict) = f
        .admin(
            "PUT",
            "/apis/apps/v1/namespaces/default/replicasets/web",
            &old_version,
        )
        .await;
    assert_eq!((code, &conflict["reason"]), (409, &json!("Conflict")));
    // The name in the body must be the URL's.
    let (code, wrong) = f
        .admin(
            "PUT",
            "/apis/apps/v1/namespaces/default/replicasets/other",
            rs,
        )
        .await;
    assert_eq!(
        (code, wrong["message"].as_str()),
        (
            400,
            Some("the name of the object (web) does not match the name on the URL (other)")
        )
    );
    // Delete with a uid precondition that does not match, then for real.
    let (code, refused) = f
        .admin(
            "DELETE",
            "/apis/apps/v1/namespaces/default/replicasets/web",
            r#"{"preconditions":{"uid":"nope"}}"#,
        )
        .await;
    assert_eq!((code, &refused["reason"]), (409, &json!("Conflict")));
    let (code, deleted) = f
        .admin(
            "DELETE",
            "/apis/apps/v1/namespaces/default/replicasets/web?propagationPolicy=Background",
            "",
        )
        .await;
    // Gone at once: upstream answers with a success Status naming it (not the object).
    assert_eq!((code, &deleted["status"]), (200, &json!("Success")));
    assert_eq!(
        deleted["details"],
        json!({"name": "web", "group": "apps", "kind": "replicasets", "uid": deleted["details"]["uid"]})
    );
    assert!(
        deleted["details"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    let (code, gone) = f
        .admin(
            "GET",
            "/apis/apps/v1/namespaces/default/replicasets/web",
            "",
        )
        .await;
    assert_eq!(
        (code, gone),
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "replicasets.apps \"web\" not found", "reason": "NotFound",
            "details": {"name": "web", "group": "apps", "kind": "replicasets"}, "code": 404})
        )
    );
    let (code, _) = f
        .admin("PUT", "/apis/apps/v1/namespaces/default/replicasets", "")
        .await;
    assert_eq!(code, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_1_over_tcp_with_content_length_and_chunked_watches() {
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, Arc::new(f.http)));
    let exchange = |request: String| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    };
    let version =
        exchange("GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned()).await;
    assert!(version.starts_with("HTTP/1.1 200 OK\r\n"), "{version}");
    assert!(
        version.contains("content-type: application/json\r\n"),
        "{version}"
    );
    assert!(version.contains("content-length: "), "{version}");
    let watch = exchange(format!(
        "GET /api/v1/namespaces?watch=true&timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nConnection: close\r\n\r\n"
    ))
    .await;
    assert!(watch.starts_with("HTTP/1.1 200 OK\r\n"), "{watch}");
    assert!(watch.contains("transfer-encoding: chunked\r\n"), "{watch}");
    assert!(
        watch.contains(r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Namespace""#),
        "{watch}"
    );
}

#[tokio::test]
async fn json_patch_server_side_apply_and_protobuf_bodies() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let patch = |content_type: &str, body: &str| {
        HttpRequest::new("PATCH", "/api/v1/namespaces/default/pods/nginx")
            .header("Authorization", ADMIN)
            .header("Content-Type", content_type)
            .body(body)
    };
    let r = f
        .send(patch(
            "application/json-patch+json",
            r#"[{"op":"add","path":"/metadata/labels/tier","value":"fe"},{"op":"remove","path":"/metadata/labels/app"}]"#,
        ))
        .await;
    assert_eq!(
        (r.status, &r.json_body()["metadata"]["labels"]),
        (200, &json!({"tier": "fe"}))
    );
    let r = f
        .send(patch(
            "application/json-patch+json",
            r#"[{"op":"test","path":"/metadata/name","value":"other"}]"#,
        ))
        .await;
    assert_eq!(
        (r.status, r.json_body()["message"].as_str()),
        (422, Some("testing value /metadata/name failed"))
    );
    let r = f
        .send(patch(
            "application/apply-patch+yaml",
            r#"{"metadata":{"annotations":{"a":"b"}}}"#,
        ))
        .await;
    assert_eq!(
        (r.status, &r.json_body()["metadata"]["annotations"]),
        (200, &json!({"a": "b"}))
    );
    // Server-side apply of a missing object creates it.
    let r = f
        .send(
            HttpRequest::new(
                "PATCH",
                "/api/v1/namespaces/default/configmaps/settings?fieldManager=kubectl&force=false",
            )
            .header("Authorization", ADMIN)
            .header("Content-Type", "application/apply-patch+yaml")
            .body("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n"),
        )
        .await;
    assert_eq!(
        (r.status, &r.json_body()["data"]),
        (201, &json!({"k": "v"}))
    );
    let r = f.send(patch("text/plain", "{}")).await;
    assert_eq!(
        (r.status, r.json_body()["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let r = f
        .send(
            HttpRequest::new("POST", "/apis/apps/v1/namespaces/default/deployments")
                .header("Authorization", ADMIN)
                .header("Content-Type", "application/vnd.kubernetes.protobuf")
                .body(&b"k8s\x00"[..]),
        )
        .await;
    assert_eq!(
        (r.status, r.json_body()["message"].as_str()),
        (
            415,
            Some(
                "the body of the request was in an unknown format - accepted media types include: application/json"
            )
        )
    );
}

#[tokio::test]
async fn deletecollection_deletes_what_the_selectors_match() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let other = POD.replace(
        "nginx\",\"labels\":{\"app\":\"web\"}",
        "db\",\"labels\":{\"app\":\"db\"}",
    );
    f.admin("POST", "/api/v1/namespaces/default/pods", &other)
        .await;
    let (code, deleted) = f
        .admin(
            "DELETE",
            "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb",
            "",
        )
        .await;
    assert_eq!((code, &deleted["kind"]), (200, &json!("PodList")));
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&deleted), ["nginx"]);
    let (_, left) = f.admin("GET", "/api/v1/namespaces/default/pods", "").await;
    assert_eq!(names(&left), ["db"]);
}

#[tokio::test]
async fn metadata_only_lists_for_metadata_informers() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let r = f
        .send(
            HttpRequest::new("GET", "/api/v1/namespaces/default/pods")
                .header("Authorization", ADMIN)
                .header(
                    "Accept",
                    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                ),
        )
        .await;
    let list = r.json_body();
    assert_eq!(
        (&list["kind"], &list["apiVersion"]),
        (
            &json!("PartialObjectMetadataList"),
            &json!("meta.k8s.io/v1")
        )
    );
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["name"], "nginx");
    assert_eq!(list["items"][0].get("spec"), None);
}

#[tokio::test]
async fn access_reviews_answer_for_the_caller_or_a_named_user() {
    let f = fixture().await;
    let review = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"default","verb":"create","resource":"pods"}}}"#;
    let ask = |token: &str| {
        HttpRequest::new(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        )
        .header("Authorization", token)
        .body(review)
    };
    let admin = f.send(ask(ADMIN)).await;
    assert_eq!(admin.status, 201);
    let answer = admin.json_body();
    assert_eq!(answer["kind"], "SelfSubjectAccessReview");
    assert_eq!(answer["status"]["allowed"], true);
    let viewer = f.send(ask(&f.viewer)).await.json_body();
    assert_eq!(viewer["status"]["allowed"], false);
    // About another user: an admin may ask (impersonation rights), a service account may not.
    let about = r#"{"spec":{"user":"jane","resourceAttributes":{"namespace":"default","verb":"get","resource":"pods"}}}"#;
    let (code, answer) = f
        .admin(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            about,
        )
        .await;
    assert_eq!(
        (
            code,
            &answer["kind"],
            &answer["spec"]["user"],
            &answer["status"]["allowed"]
        ),
        (
            201,
            &json!("SubjectAccessReview"),
            &json!("jane"),
            &json!(false)
        )
    );
    let refused = f
        .send(
            HttpRequest::new("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews")
                .header("Authorization", &f.viewer)
                .body(about),
        )
        .await;
    assert_eq!(refused.status, 403);
    let (_, discovery) = f.admin("GET", "/apis/authorization.k8s.io/v1", "").await;
    assert_eq!(
        discovery["resources"][0],
        json!({"name": "selfsubjectaccessreviews", "singularName": "", "namespaced": false,
            "kind": "SelfSubjectAccessReview", "verbs": ["create"]})
    );
}

#[tokio::test]
async fn strategic_merge_patches_merge_containers_by_name() {
    let f = fixture().await;
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    // What kubectl apply sends for a changed image: $setElementOrder plus the changed field.
    let r = f
        .send(
            HttpRequest::new("PATCH", "/api/v1/namespaces/default/pods/nginx")
                .header("Authorization", ADMIN)
                .header("Content-Type", "application/strategic-merge-patch+json")
                .body(r#"{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"name":"nginx","image":"nginx:1.28"}]}}"#),
        )
        .await;
    assert_eq!(r.status, 200);
    let pod = r.json_body();
    assert_eq!(pod["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(pod["spec"]["containers"][0]["name"], "nginx");
    assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn impersonation_needs_the_impersonate_verb() {
    let f = fixture().await;
    let as_jane = |token: &str| {
        HttpRequest::new("GET", "/api/v1/namespaces/default/pods")
            .header("Authorization", token)
            .header("Impersonate-User", "jane")
    };
    // An admin may act as jane, who may not list pods.
    let r = f.send(as_jane(ADMIN)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json_body()["message"],
        "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    // Acting as a member of system:masters is allowed to an admin.
    let r = f
        .send(as_jane(ADMIN).header("Impersonate-Group", "system:masters"))
        .await;
    assert_eq!(r.status, 200);
    // A service account may not impersonate.
    let r = f.send(as_jane(&f.viewer)).await;
    assert_eq!(
        (r.status, r.json_body()["message"].as_str()),
        (
            403,
            Some(
                "users \"jane\" is forbidden: User \"system:serviceaccount:default:default\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
            )
        )
    );
}

/// Upstream's generic registry answers a delete that removed the object at once with a
/// success Status (`finalizeDelete`), except for pods, services and service accounts
/// (`ReturnDeletedObject`); an object only marked for deletion is returned as it is. kube-rs
/// reads the Status as `Either::Right` ("deleted") and an object as `Either::Left`.
#[tokio::test]
async fn a_delete_answers_a_success_status_unless_the_kind_returns_the_object() {
    let f = fixture().await;
    let (code, made) = f
        .admin(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            r#"{"metadata":{"name":"settings"},"data":{"a":"1"}}"#,
        )
        .await;
    assert_eq!(code, 201, "{made}");
    let uid = made["metadata"]["uid"].as_str().unwrap().to_owned();
    let (code, deleted) = f
        .admin(
            "DELETE",
            "/api/v1/namespaces/default/configmaps/settings",
            "",
        )
        .await;
    assert_eq!(
        (code, deleted),
        (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": "settings", "kind": "configmaps", "uid": uid}})
        )
    );

    // A finalizer keeps it: the answer is the object, marked for deletion.
    f.admin(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        r#"{"metadata":{"name":"held","finalizers":["example.com/hold"]}}"#,
    )
    .await;
    let (code, held) = f
        .admin("DELETE", "/api/v1/namespaces/default/configmaps/held", "")
        .await;
    assert_eq!((code, &held["kind"]), (200, &json!("ConfigMap")), "{held}");
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");

    // Pods, services and service accounts answer with the object even when it is gone.
    f.admin("POST", "/api/v1/namespaces/default/pods", POD)
        .await;
    let (code, pod) = f
        .admin("DELETE", "/api/v1/namespaces/default/pods/nginx", "")
        .await;
    assert_eq!(
        (code, &pod["kind"], &pod["metadata"]["name"]),
        (200, &json!("Pod"), &json!("nginx"))
    );
    f.admin(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        r#"{"metadata":{"name":"robot"}}"#,
    )
    .await;
    let (code, sa) = f
        .admin(
            "DELETE",
            "/api/v1/namespaces/default/serviceaccounts/robot",
            "",
        )
        .await;
    assert_eq!((code, &sa["kind"]), (200, &json!("ServiceAccount")), "{sa}");
}
