//! The OpenAPI documents: `/openapi/v2` (Swagger 2.0, one document) and `/openapi/v3` (an
//! index, then one OpenAPI 3.0 document per group-version), with a schema for every kind
//! skiff serves. `kubectl explain` reads them (v3 from kubectl 1.27 on, v2 with
//! `--output plaintext-openapiv2`), and kubectl's `--validate` learns from their PATCH
//! operations that the server validates fields itself (see below).
//!
//! # Where the schemas come from
//!
//! From the Rust types, never written per field: every object type in
//! `skiff_core::object` derives [`schemars::JsonSchema`], so a schema has exactly the fields
//! serde reads (the same `rename_all`, `rename`, `default`), a field is `required` when serde
//! requires it, and each description is the type's or field's own doc comment. A few types
//! with hand-written serde have hand-written schemas next to them (`Time`/`MicroTime`:
//! `date-time` strings, `Quantity`, `IntOrString`, base64 `Bytes`, the opaque `Value`:
//! `x-kubernetes-preserve-unknown-fields`). schemars was chosen over a trait of our own because
//! its derive already follows serde's attributes (a trait of our own would need a derive
//! macro to avoid listing fields by hand), and it is lean without default features (its derive
//! shares `syn` with serde's). Its output is then shaped as upstream's: enums of documented
//! unit variants become one string `enum` whose description lists the values, rustdoc link
//! syntax is dropped from descriptions, `additionalProperties: false` (serde's
//! `deny_unknown_fields`) is left out, and each kind carries
//! `x-kubernetes-group-version-kind`.
//!
//! Custom kinds carry no schema in their registration, so a custom kind is described as an
//! object with `apiVersion`, `kind` and `metadata` whose other fields are
//! `x-kubernetes-preserve-unknown-fields` (what upstream serves for a CRD without a schema).
//!
//! # Field validation
//!
//! kubectl (`--validate=strict`, its default) validates a manifest on the client unless the
//! server supports server-side field validation, which it learns from the documents: the
//! group-version document must have a PATCH operation for the kind
//! (`x-kubernetes-group-version-kind`) with a `fieldValidation` query parameter. skiff's own
//! decoding is strict (an unknown field is an error), so every document declares that support
//! and kubectl sends `fieldValidation=Strict` instead of validating locally.
//!
//! Documents are generated on each request (a few milliseconds; clients cache them).

use std::collections::BTreeMap;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};
use skiff_core::object::{self as obj, KindInfo, KindRegistry};

use super::discovery::KUBERNETES_MINOR;
use super::events;

/// Where v3 documents keep their schemas.
const V3_REFS: &str = "#/components/schemas/";
/// Where the v2 document keeps its schemas.
const V2_REFS: &str = "#/definitions/";

/// The name of the events.k8s.io/v1 Event schema (the core Event's is `Event`).
const EVENTS_V1_SCHEMA: &str = "io.k8s.api.events.v1.Event";

/// Adds the schema of a built-in kind's type to `generator`, returning its definition name.
fn builtin_schema(generator: &mut SchemaGenerator, kind: &str) -> Option<String> {
    macro_rules! by_kind {
        ($($name:literal => $ty:ty),* $(,)?) => {
            match kind {
                $($name => generator.subschema_for::<$ty>(),)*
                _ => return None,
            }
        };
    }
    let schema = by_kind! {
        "Pod" => obj::Pod,
        "ReplicationController" => obj::ReplicationController,
        "Service" => obj::Service,
        "Endpoints" => obj::Endpoints,
        "Node" => obj::Node,
        "Namespace" => obj::Namespace,
        "ConfigMap" => obj::ConfigMap,
        "Secret" => obj::Secret,
        "ServiceAccount" => obj::ServiceAccount,
        "Event" => obj::Event,
        "PersistentVolume" => obj::PersistentVolume,
        "PersistentVolumeClaim" => obj::PersistentVolumeClaim,
        "ReplicaSet" => obj::ReplicaSet,
        "Deployment" => obj::Deployment,
        "DaemonSet" => obj::DaemonSet,
        "Role" => obj::Role,
        "ClusterRole" => obj::ClusterRole,
        "RoleBinding" => obj::RoleBinding,
        "ClusterRoleBinding" => obj::ClusterRoleBinding,
        "Lease" => obj::Lease,
    };
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned)
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "version": version, "kind": kind}])
}

/// The schema of a custom kind: typed `apiVersion`, `kind`, `metadata`, anything else kept.
fn custom_schema(info: &KindInfo) -> Value {
    json!({
        "description": format!(
            "{} ({}), a custom kind registered with skiff; its fields other than the \
             metadata are not described.",
            info.kind, info.api_version
        ),
        "type": "object",
        "properties": {
            "apiVersion": {"description": format!("Always `{}`.", info.api_version), "type": "string"},
            "kind": {"description": format!("Always `{}`.", info.kind), "type": "string"},
            "metadata": {"description": "Standard object metadata.",
                         "allOf": [{"$ref": format!("{V3_REFS}ObjectMeta")}]},
        },
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": gvk(info.group, info.version, info.kind),
    })
}

/// The events.k8s.io/v1 Event schema: the core Event's with the new API's field names.
fn events_v1_schema(core: &Value) -> Value {
    let mut schema = core.clone();
    let renames: BTreeMap<&str, &str> = [
        ("message", "note"),
        ("involvedObject", "regarding"),
        ("reportingComponent", "reportingController"),
        ("source", "deprecatedSource"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ]
    .into_iter()
    .collect();
    if let Some(properties) = schema["properties"].as_object_mut() {
        let old = std::mem::take(properties);
        for (name, mut property) in old {
            if name == "apiVersion" {
                property["description"] = format!("Always `{}`.", events::API_VERSION).into();
            }
            let name = renames.get(name.as_str()).map_or(name, |n| (*n).to_owned());
            properties.insert(name, property);
        }
    }
    schema["description"] = "A report that something happened to an object, in the \
        `events.k8s.io/v1` shape (upstream `events/v1.Event`): the same stored object as a \
        core/v1 Event, with `note`, `regarding`, `reportingController` and the `deprecated…` \
        fields named as this API names them."
        .into();
    // upstream's events.k8s.io/v1 requires `eventTime`; `regarding` is optional there.
    schema["required"] = json!(["eventTime"]);
    schema["x-kubernetes-group-version-kind"] = gvk(events::GROUP, "v1", "Event");
    schema
}

/// Every schema a group-version's kinds need (all served group-versions when `only` is
/// `None`), in v3 form, with each kind's `x-kubernetes-group-version-kind`.
fn schemas(registry: &KindRegistry, only: Option<(&str, &str)>) -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3()
        .with(|s| {
            s.definitions_path = V3_REFS.trim_start_matches('#').to_owned().into();
            s.meta_schema = None;
        })
        .into_generator();
    let wanted = |group: &str, version: &str| only.is_none_or(|gv| gv == (group, version));
    let mut kinds: Vec<(String, &KindInfo)> = Vec::new();
    let mut custom = Vec::new();
    for info in registry.kinds() {
        if !wanted(info.group, info.version) {
            continue;
        }
        if registry.custom_of(info).is_some() {
            custom.push(info);
        } else if let Some(name) = builtin_schema(&mut generator, info.kind) {
            kinds.push((name, info));
        }
    }
    let events_v1 = wanted(events::GROUP, "v1");
    let core_event = if events_v1 {
        builtin_schema(&mut generator, "Event")
    } else {
        None
    };
    if !custom.is_empty() {
        generator.subschema_for::<obj::ObjectMeta>();
    }
    let mut defs = generator.take_definitions(true);
    for (name, info) in &kinds {
        if let Some(def) = defs.get_mut(name) {
            def["x-kubernetes-group-version-kind"] = gvk(info.group, info.version, info.kind);
        }
    }
    if let Some(core) = core_event.and_then(|name| defs.get(&name).cloned()) {
        defs.insert(EVENTS_V1_SCHEMA.into(), events_v1_schema(&core));
        // The core Event is only described when core/v1 is.
        if !wanted("", "v1") {
            defs.remove("Event");
        }
    }
    for info in custom {
        defs.insert(
            format!("{}.{}.{}", info.group, info.version, info.kind),
            custom_schema(info),
        );
    }
    for def in defs.values_mut() {
        shape(def);
    }
    defs
}

/// Shapes schemars' output as upstream's documents (see the module doc).
fn shape(schema: &mut Value) {
    let Value::Object(map) = schema else {
        if let Value::Array(items) = schema {
            items.iter_mut().for_each(shape);
        }
        return;
    };
    if map.get("additionalProperties") == Some(&Value::Bool(false)) {
        map.remove("additionalProperties");
    }
    // serde's defaults are the types' zero values, not upstream defaulting: left out.
    map.remove("default");
    // An optional reference (`anyOf: [{$ref}, {enum: [null]}]`): upstream marks no field
    // nullable, so it is the reference alone.
    if let Some(Value::Array(any)) = map.get("anyOf")
        && let [target, null] = any.as_slice()
        && null["enum"] == json!([null])
    {
        let target = target.clone();
        map.remove("anyOf");
        map.insert("allOf".into(), Value::Array(vec![target]));
    }
    if let Some(description) = map.get_mut("description")
        && let Some(text) = description.as_str()
    {
        *description = plain_text(text).into();
    }
    collapse_enum(map);
    for value in map.values_mut() {
        shape(value);
    }
}

/// `oneOf` of documented unit variants (each `{"type":"string","enum":[v],"description":…}`)
/// as one string enum, the values and their descriptions listed in the description (upstream
/// writes `Possible enum values:` the same way).
fn collapse_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = map.get("oneOf") else {
        return;
    };
    let mut values = Vec::new();
    let mut lines = Vec::new();
    for variant in variants {
        let single = variant["enum"].as_array().filter(|e| e.len() == 1);
        let (Some(single), Some("string")) = (single, variant["type"].as_str()) else {
            return;
        };
        let value = single[0].as_str().unwrap_or_default().to_owned();
        if let Some(doc) = variant["description"].as_str() {
            lines.push(format!(" - `\"{value}\"` {}", plain_text(doc)));
        }
        values.push(Value::String(value));
    }
    map.remove("oneOf");
    map.insert("type".into(), "string".into());
    map.insert("enum".into(), Value::Array(values));
    if !lines.is_empty() {
        let mut description = map
            .get("description")
            .and_then(Value::as_str)
            .map(|d| format!("{d}\n\n"))
            .unwrap_or_default();
        description.push_str("Possible enum values:\n");
        description.push_str(&lines.join("\n"));
        map.insert("description".into(), description.into());
    }
}

/// A doc comment as plain prose: the lines of a paragraph joined (kubectl wraps the text
/// itself; list items keep their lines), rustdoc links (`` [`Pod`](super::Pod) ``,
/// `` [`Pod`] ``) become their text.
fn plain_text(doc: &str) -> String {
    let mut joined = String::with_capacity(doc.len());
    let mut lines = doc.lines().peekable();
    while let Some(line) = lines.next() {
        joined.push_str(line);
        if let Some(next) = lines.peek() {
            let keep = line.trim().is_empty()
                || next.trim().is_empty()
                || next.trim_start().starts_with("- ")
                || next.trim_start().starts_with("* ");
            joined.push(if keep { '\n' } else { ' ' });
        }
    }
    let mut out = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while let Some(open) = rest.find("[`") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find("`]") else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(&after[..=close]);
        rest = &after[close + 2..];
        if rest.starts_with('(')
            && let Some(end) = rest.find(')')
        {
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The PATCH operation of a kind, declaring the query parameters kubectl looks for (see the
/// module doc). `v2` shapes parameters as Swagger 2.0 does.
fn patch_operation(info: &KindInfo, group: &str, version: &str, v2: bool) -> (String, Value) {
    let base = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let path = if info.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", info.plural)
    } else {
        format!("{base}/{}/{{name}}", info.plural)
    };
    let parameters: Vec<Value> = ["fieldValidation", "fieldManager", "dryRun"]
        .into_iter()
        .map(|name| {
            if v2 {
                json!({"name": name, "in": "query", "type": "string", "uniqueItems": true})
            } else {
                json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
            }
        })
        .collect();
    let operation = json!({
        "operationId": format!("patch{}", info.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": info.kind},
    });
    (path, json!({"patch": operation}))
}

/// The kinds of a group-version, with the events.k8s.io Event (which the registry does not
/// hold: it is the core Event's second version).
fn kinds_of(registry: &KindRegistry, group: &str, version: &str) -> Vec<KindInfo> {
    if (group, version) == (events::GROUP, "v1") {
        return vec![KindInfo {
            group: events::GROUP,
            version: "v1",
            api_version: events::API_VERSION,
            ..obj::info::EVENT
        }];
    }
    registry
        .kinds()
        .filter(|k| k.group == group && k.version == version)
        .copied()
        .collect()
}

/// `GET /openapi/v3`: where each group-version's document is.
pub fn v3_root(group_versions: &[(&str, &str)]) -> Value {
    let mut paths = Map::new();
    let mut add = |path: String| {
        let url = format!("/openapi/v3/{path}");
        paths.insert(path, json!({"serverRelativeURL": url}));
    };
    add("api/v1".into());
    for (g, v) in group_versions {
        add(format!("apis/{g}/{v}"));
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`, if served: the kinds'
/// schemas and PATCH operations.
pub fn v3_group_version(registry: &KindRegistry, group: &str, version: &str) -> Option<Value> {
    let kinds = kinds_of(registry, group, version);
    if kinds.is_empty() {
        return None;
    }
    let paths: Map<String, Value> = kinds
        .iter()
        .map(|info| patch_operation(info, group, version, false))
        .collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{KUBERNETES_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas(registry, Some((group, version)))},
    }))
}

/// `GET /openapi/v2`: every kind's schema and PATCH operation in one Swagger 2.0 document.
pub fn v2(registry: &KindRegistry, group_versions: &[(&str, &str)]) -> Value {
    let mut paths = Map::new();
    for (group, version) in std::iter::once(&("", "v1")).chain(group_versions) {
        for info in kinds_of(registry, group, version) {
            let (path, item) = patch_operation(&info, group, version, true);
            paths.insert(path, item);
        }
    }
    let mut definitions = Value::Object(schemas(registry, None));
    to_v2(&mut definitions);
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{KUBERNETES_MINOR}.0")},
        "paths": paths,
        "definitions": definitions,
    })
}

/// A v3 schema as Swagger 2.0: references under `#/definitions/`, a `$ref` beside its
/// description instead of wrapped in `allOf` (as upstream's v2 document writes it), no
/// `nullable` (2.0 has none).
fn to_v2(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("nullable");
            if let Some(Value::Array(all)) = map.get("allOf")
                && let [Value::Object(only)] = all.as_slice()
                && only.len() == 1
                && only.contains_key("$ref")
            {
                let only = only.clone();
                map.remove("allOf");
                map.extend(only);
            }
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix(V3_REFS)
            {
                *r = format!("{V2_REFS}{name}");
            }
            for value in map.values_mut() {
                to_v2(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_v2),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_drops_rustdoc_links() {
        assert_eq!(
            plain_text(
                "Used by [`Event`](super::Event)\nand [`Pod`]s, see [docs].\n\n- one\n- two"
            ),
            "Used by `Event` and `Pod`s, see [docs].\n\n- one\n- two"
        );
    }
}

/// The media type of the v2 document as protobuf (gnostic's `openapi.v2.Document`), as the
/// response names it (upstream's; Go's media type parser refuses the `@` of the requested one).
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// The protobuf media type clients ask for (kubectl 1.27 and 1.28 ask for no other, for
/// `explain` and `--validate`).
const V2_PROTOBUF_REQUESTED: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// Whether an `Accept` header prefers the protobuf v2 document to JSON: its first range that
/// names either decides.
pub fn wants_v2_protobuf(accept: Option<&str>) -> bool {
    for range in accept.unwrap_or_default().split(',') {
        let media = range
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media == V2_PROTOBUF || media == V2_PROTOBUF_REQUESTED {
            return true;
        }
        if matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
            return false;
        }
    }
    false
}

/// The v2 document (as [`v2`] makes it) in protobuf: gnostic's `openapi.v2.Document` (field
/// numbers from gnostic's `OpenAPIv2.proto`), written by hand for the parts skiff's document
/// has: info, the PATCH operations with their query parameters and extensions, and the
/// definitions. Vendor extensions and enum values are `Any`s holding their JSON text in the
/// `yaml` field (JSON is YAML), as kube-openapi reads them.
pub fn v2_protobuf(document: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    pb::string(&mut out, 1, document["swagger"].as_str().unwrap_or("2.0"));
    pb::message(&mut out, 2, |info| {
        pb::string(
            info,
            1,
            document["info"]["title"].as_str().unwrap_or_default(),
        );
        pb::string(
            info,
            2,
            document["info"]["version"].as_str().unwrap_or_default(),
        );
    });
    if let Some(paths) = document["paths"].as_object() {
        pb::message(&mut out, 8, |out| {
            for (path, item) in paths {
                pb::message(out, 2, |named| {
                    pb::string(named, 1, path);
                    pb::message(named, 2, |item_out| {
                        if let Some(op) = item.get("patch") {
                            pb::message(item_out, 8, |o| pb_operation(o, op));
                        }
                    });
                });
            }
        });
    }
    if let Some(definitions) = document["definitions"].as_object() {
        pb::message(&mut out, 9, |out| {
            for (name, schema) in definitions {
                pb::message(out, 1, |named| {
                    pb::string(named, 1, name);
                    pb::message(named, 2, |s| pb_schema(s, schema));
                });
            }
        });
    }
    out
}

fn pb_extensions(out: &mut Vec<u8>, field: u32, map: &Map<String, Value>) {
    for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
        pb::message(out, field, |named| {
            pb::string(named, 1, key);
            pb::message(named, 2, |any| pb::string(any, 2, &value.to_string()));
        });
    }
}

fn pb_operation(out: &mut Vec<u8>, op: &Value) {
    pb::string(out, 5, op["operationId"].as_str().unwrap_or_default());
    for parameter in op["parameters"].as_array().into_iter().flatten() {
        // ParametersItem.parameter → Parameter.non_body_parameter → query sub-schema.
        pb::message(out, 8, |item| {
            pb::message(item, 1, |p| {
                pb::message(p, 2, |non_body| {
                    pb::message(non_body, 3, |q| {
                        pb::string(q, 2, parameter["in"].as_str().unwrap_or_default());
                        pb::string(q, 4, parameter["name"].as_str().unwrap_or_default());
                        pb::string(q, 6, parameter["type"].as_str().unwrap_or_default());
                        pb::boolean(q, 20, parameter["uniqueItems"] == true);
                    });
                });
            });
        });
    }
    if let Some(responses) = op["responses"].as_object() {
        pb::message(out, 9, |r| {
            for (code, response) in responses {
                pb::message(r, 1, |named| {
                    pb::string(named, 1, code);
                    pb::message(named, 2, |value| {
                        pb::message(value, 1, |resp| {
                            pb::string(
                                resp,
                                1,
                                response["description"].as_str().unwrap_or_default(),
                            );
                        });
                    });
                });
            }
        });
    }
    if let Some(map) = op.as_object() {
        pb_extensions(out, 13, map);
    }
}

fn pb_schema(out: &mut Vec<u8>, schema: &Value) {
    let Some(map) = schema.as_object() else {
        return;
    };
    for (key, field) in [("$ref", 1), ("format", 2), ("title", 3), ("description", 4)] {
        if let Some(text) = map.get(key).and_then(Value::as_str) {
            pb::string(out, field, text);
        }
    }
    for (key, field) in [("maximum", 7), ("minimum", 9)] {
        if let Some(number) = map.get(key).and_then(Value::as_f64) {
            pb::double(out, field, number);
        }
    }
    for required in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb::string(out, 19, required.as_str().unwrap_or_default());
    }
    for value in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb::message(out, 20, |any| pb::string(any, 2, &value.to_string()));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => pb::message(out, 21, |a| pb::boolean(a, 2, *b)),
        Some(inner @ Value::Object(_)) => {
            pb::message(out, 21, |a| pb::message(a, 1, |s| pb_schema(s, inner)));
        }
        _ => {}
    }
    match map.get("type") {
        Some(Value::String(t)) => pb::message(out, 22, |ty| pb::string(ty, 1, t)),
        Some(Value::Array(types)) => pb::message(out, 22, |ty| {
            for t in types.iter().filter_map(Value::as_str) {
                pb::string(ty, 1, t);
            }
        }),
        _ => {}
    }
    match map.get("items") {
        Some(inner @ Value::Object(_)) => {
            pb::message(out, 23, |items| {
                pb::message(items, 1, |s| pb_schema(s, inner));
            });
        }
        Some(Value::Array(all)) => pb::message(out, 23, |items| {
            for inner in all {
                pb::message(items, 1, |s| pb_schema(s, inner));
            }
        }),
        _ => {}
    }
    for inner in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb::message(out, 24, |s| pb_schema(s, inner));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        pb::message(out, 25, |props| {
            for (name, inner) in properties {
                pb::message(props, 1, |named| {
                    pb::string(named, 1, name);
                    pb::message(named, 2, |s| pb_schema(s, inner));
                });
            }
        });
    }
    pb_extensions(out, 31, map);
}

/// The few protobuf wire encodings the v2 document needs.
mod pb {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push(u8::try_from(value & 0x7f).unwrap_or_default() | 0x80);
            value >>= 7;
        }
        out.push(u8::try_from(value).unwrap_or_default());
    }

    fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire_type));
    }

    fn length_delimited(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
        key(out, field, 2);
        varint(out, u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        out.extend_from_slice(bytes);
    }

    /// A string field (proto3: an empty one is not written).
    pub fn string(out: &mut Vec<u8>, field: u32, text: &str) {
        if !text.is_empty() {
            length_delimited(out, field, text.as_bytes());
        }
    }

    /// A nested message, written by `write`.
    pub fn message(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = Vec::new();
        write(&mut inner);
        length_delimited(out, field, &inner);
    }

    /// A bool field (proto3: `false` is not written).
    pub fn boolean(out: &mut Vec<u8>, field: u32, value: bool) {
        if value {
            key(out, field, 0);
            varint(out, 1);
        }
    }

    /// A double field.
    pub fn double(out: &mut Vec<u8>, field: u32, value: f64) {
        key(out, field, 1);
        out.extend_from_slice(&value.to_le_bytes());
    }
}
