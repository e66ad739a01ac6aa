//! Manifest streams that must parse: block and flow ("KYAML") style, comments and trailing commas
//! inside flow collections, empty documents, end markers, JSON.

use skiff_core::manifest::{parse, parse_str};
use skiff_core::object::Object;
use skiff_core::quantity::Quantity;

fn kinds_and_names(text: &str) -> Vec<String> {
    let parsed = parse("t.yaml", text);
    let errors: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors, Vec::<String>::new());
    parsed
        .documents
        .iter()
        .map(|d| d.object.kind_slash_name())
        .collect()
}

#[test]
fn flow_style_documents_with_comments_and_trailing_commas_parse() {
    let text = r#"---
{
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    # a comment inside a flow mapping
    name: "settings",
    labels: {app: "web", tier: "front",},
  },
  data: {
    "a": "1", # trailing comment
    "b": "2",
  },
}
"#;
    assert_eq!(kinds_and_names(text), ["configmap/settings"]);
    let Object::ConfigMap(cm) = &parse_str("t.yaml", text).unwrap()[0] else {
        panic!()
    };
    assert_eq!(cm.data.len(), 2);
    assert_eq!(cm.metadata.labels["tier"], "front");
}

#[test]
fn empty_documents_and_end_markers_are_skipped() {
    let text = "---\n# only a comment\n---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n...\n---\n~\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\n";
    assert_eq!(
        kinds_and_names(text),
        ["namespace/dev", "serviceaccount/builder"]
    );
}

#[test]
fn documents_are_numbered_in_stream_order_with_their_first_line() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n";
    let parsed = parse("t.yaml", text);
    let places: Vec<(usize, u64)> = parsed
        .documents
        .iter()
        .map(|d| (d.document, d.line))
        .collect();
    assert_eq!(places, [(1, 1), (2, 5)]);
}

#[test]
fn json_documents_parse() {
    let text = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":0.5,"memory":"1Gi"}}}]}}"#;
    let Object::Pod(pod) = &parse_str("p.json", text).unwrap()[0] else {
        panic!()
    };
    let limits = &pod.spec.containers[0].resources.limits;
    assert_eq!(limits["cpu"].to_string(), "500m");
    assert_eq!(limits["memory"], Quantity::parse("1Gi").unwrap());
}

#[test]
fn yaml_one_one_words_stay_strings_where_the_schema_wants_strings() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    enabled: yes\n    version: 1.10\ndata:\n  octal: 010\n  off: off\n";
    let Object::ConfigMap(cm) = &parse_str("t.yaml", text).unwrap()[0] else {
        panic!()
    };
    assert_eq!(cm.metadata.labels["enabled"], "yes");
    assert_eq!(cm.metadata.labels["version"], "1.10");
    assert_eq!(
        (cm.data["octal"].as_str(), cm.data["off"].as_str()),
        ("010", "off")
    );
}

#[test]
fn quantities_keep_upstream_canonical_forms() {
    let canonical = |s: &str| Quantity::parse(s).unwrap().to_string();
    assert_eq!(canonical("1500m"), "1500m");
    assert_eq!(canonical("1.5"), "1500m");
    assert_eq!(canonical("1Gi"), "1Gi");
    assert_eq!(canonical("0.5Gi"), "512Mi");
    assert_eq!(canonical("128974848"), "128974848");
    assert_eq!(canonical("1e3"), "1e3");
}
