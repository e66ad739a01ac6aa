//! Manifest error messages, one snapshot per error class. A change in wording, location or field
//! path shows up here.

use std::fmt::Write as _;

use skiff_core::manifest::parse;

/// Parses `text` as `file` and renders every error, one per line.
fn errors(file: &str, text: &str) -> String {
    let parsed = parse(file, text);
    assert!(!parsed.errors.is_empty(), "expected errors for {file}");
    parsed
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tab_indentation_is_a_syntax_error_with_its_position() {
    insta::assert_snapshot!(errors(
        "tabs.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: nginx\n"
    ));
}

#[test]
fn bad_indentation_is_a_syntax_error_with_its_position() {
    insta::assert_snapshot!(errors(
        "indent.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nginx\n labels:\n    app: web\n"
    ));
}

#[test]
fn wrong_type_names_the_field_and_expected_type() {
    insta::assert_snapshot!(errors(
        "rs.yaml",
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web\nspec:\n  replicas: \"three\"\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n"
    ));
}

#[test]
fn unknown_field_names_its_full_path() {
    insta::assert_snapshot!(errors(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nginx\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n    imagePullPolicyy: Always\n"
    ));
}

#[test]
fn missing_required_field_names_its_full_path() {
    insta::assert_snapshot!(errors(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nginx\nspec:\n  containers:\n  - image: nginx\n"
    ));
}

#[test]
fn served_kind_at_the_wrong_version_names_the_serving_version() {
    insta::assert_snapshot!(errors(
        "rs.yaml",
        "apiVersion: v1\nkind: ReplicaSet\nmetadata:\n  name: web\n"
    ));
}

#[test]
fn removed_api_versions_say_when_they_were_removed() {
    let text = "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: a\n---\napiVersion: apps/v1beta1\nkind: Deployment\nmetadata:\n  name: b\n---\napiVersion: apps/v1beta2\nkind: DaemonSet\nmetadata:\n  name: c\n";
    insta::assert_snapshot!(errors("old.yaml", text));
}

#[test]
fn unserved_kinds_are_not_supported() {
    let text = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: hello\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";
    insta::assert_snapshot!(errors("unserved.yaml", text));
}

#[test]
fn missing_api_version_or_kind_is_reported() {
    insta::assert_snapshot!(errors(
        "bare.yaml",
        "kind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nmetadata:\n  name: b\n"
    ));
}

#[test]
fn a_document_that_is_not_a_mapping_is_rejected() {
    insta::assert_snapshot!(errors("list.yaml", "- apiVersion: v1\n  kind: Pod\n"));
}

#[test]
fn errors_in_later_documents_carry_stream_lines() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  key: [1, 2]\n";
    insta::assert_snapshot!(errors("two.yaml", text));
}

#[test]
fn duplicate_keys_are_rejected() {
    insta::assert_snapshot!(errors(
        "dup.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n"
    ));
}

#[test]
fn alias_bombs_are_rejected_quickly() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let prev = i - 1;
        let refs = vec![format!("*a{prev}"); 10].join(", ");
        writeln!(text, "a{i}: &a{i} [{refs}]").unwrap();
    }
    text.push_str("apiVersion: v1\nkind: Pod\n");
    insta::assert_snapshot!(errors("bomb.yaml", &text));
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    insta::assert_snapshot!(errors("deep.yaml", &"[".repeat(100_000)));
}

#[test]
fn invalid_utf8_is_rejected_with_its_line() {
    let parsed = skiff_core::manifest::parse_bytes("bin.yaml", b"apiVersion: v1\nkind: \xff\n");
    let rendered: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        ["bin.yaml, line 2: input is not valid UTF-8 (byte 21)"]
    );
}

#[test]
fn malformed_quantity_names_the_field() {
    insta::assert_snapshot!(errors(
        "q.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: a\n    image: nginx\n    resources:\n      limits:\n        cpu: 1.5.5\n"
    ));
}

#[test]
fn json_documents_report_json_positions_and_paths() {
    let text = "{\n  \"apiVersion\": \"apps/v1\",\n  \"kind\": \"ReplicaSet\",\n  \"metadata\": {\"name\": \"web\"},\n  \"spec\": {\"replicas\": \"three\"}\n}\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\", \"labelz\": {}}}\n";
    insta::assert_snapshot!(errors("rs.json", text));
}
