//! Tests for label selectors, field selectors and name syntax.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::syntax::{
    validate_dns1123_label, validate_dns1123_subdomain, validate_label_key, validate_label_value,
};
use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(input: &str) -> Selector {
    Selector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn parse_error(input: &str) -> String {
    match Selector::parse(input) {
        Ok(selector) => panic!("{input:?} should not parse, got {selector}"),
        Err(error) => error.to_string(),
    }
}

fn field_error(input: &str) -> String {
    match FieldSelector::parse(input) {
        Ok(selector) => panic!("{input:?} should not parse, got {selector}"),
        Err(error) => error.to_string(),
    }
}

fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

const NAME_PART_REGEX_MESSAGE: &str = "name part must consist of alphanumeric characters, '-', \
     '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or \
     'my.name',  or '123-abc', regex used for validation is \
     '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const LABEL_VALUE_REGEX_MESSAGE: &str = "a valid label must be an empty string or consist of \
     alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
     character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
     '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

const SUBDOMAIN_REGEX_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
     (e.g. 'example.com', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

// ---------------------------------------------------------------------------------------------
// String syntax.
// ---------------------------------------------------------------------------------------------

#[test]
fn parses_each_form_to_its_canonical_print() {
    let cases = [
        ("", ""),
        ("   \t\n", ""),
        ("a=b", "a=b"),
        ("a==b", "a=b"),
        ("a!=b", "a!=b"),
        (" a = b ", "a=b"),
        ("a=", "a="),
        ("a==,b", "a=,b"),
        ("a in (y,x)", "a in (x,y)"),
        ("a notin (x, y)", "a notin (x,y)"),
        ("a in(x)", "a in (x)"),
        ("a in (x,x)", "a in (x)"),
        ("a in ()", "a in ()"),
        ("a in (,x)", "a in (,x)"),
        ("a in (x,)", "a in (,x)"),
        ("a in (,)", "a in ()"),
        ("a in (x,,)", "a in (,x)"),
        ("a", "a"),
        ("!a", "!a"),
        ("! a", "!a"),
        ("b=1,a=2", "a=2,b=1"),
        ("a notin (y),a in (x),a", "a in (x),a notin (y),a"),
        (
            "x in (foo,,baz),y,z notin ()",
            "x in (,baz,foo),y,z notin ()",
        ),
        ("example.com/app=web", "example.com/app=web"),
        ("in in (in, notin)", "in in (in,notin)"),
        ("notin notin (in)", "notin notin (in)"),
        ("a=in", "a=in"),
        ("in", "in"),
        ("!notin", "!notin"),
        ("a>1", "a>1"),
        ("a < 007", "a<007"),
        (
            "g notin (h),!c,a=b,e in (f),b!=c,d",
            "a=b,b!=c,!c,d,e in (f),g notin (h)",
        ),
    ];
    for (input, canonical) in cases {
        let selector = parse(input);
        assert_eq!(selector.to_string(), canonical, "print of {input:?}");
        assert_eq!(parse(canonical), selector, "reparse of {input:?}");
    }
}

#[test]
fn parse_builds_the_requirements_it_reads() {
    let selector = parse("tier in (web,cache),!canary,env==prod,replicas>2");
    let expected = Selector::from_requirements([
        Requirement::new("tier", Operator::In, ["web", "cache"]).unwrap(),
        Requirement::new("canary", Operator::DoesNotExist, Vec::<String>::new()).unwrap(),
        Requirement::new("env", Operator::Equals, ["prod"]).unwrap(),
        Requirement::new("replicas", Operator::Gt, ["2"]).unwrap(),
    ]);
    assert_eq!(selector, expected);
    let keys: Vec<&str> = selector
        .requirements()
        .unwrap()
        .iter()
        .map(Requirement::key)
        .collect();
    assert_eq!(keys, ["canary", "env", "replicas", "tier"]);
}

#[test]
fn empty_string_selects_everything() {
    let selector = parse("");
    assert_eq!(selector, Selector::everything());
    assert!(selector.is_empty());
    assert!(selector.matches(&labels(&[])));
    assert!(selector.matches(&labels(&[("a", "b")])));
}

#[test]
fn nothing_matches_nothing_and_prints_empty_like_upstream() {
    let nothing = Selector::nothing();
    assert!(!nothing.is_empty());
    assert!(nothing.is_nothing());
    assert!(!nothing.matches(&labels(&[])));
    assert_eq!(nothing.requirements(), None);
    assert_eq!(nothing.to_string(), "");
    assert_ne!(nothing, Selector::everything());
}

#[test]
fn syntax_errors_name_the_position_and_what_was_expected() {
    let cases = [
        ("a=(", "at byte 2: found '(', expected: identifier"),
        (
            "a,",
            "at byte 2: found end of string, expected: identifier after ','",
        ),
        (
            "a,,b",
            "at byte 2: found ',', expected: identifier after ','",
        ),
        (
            ",a",
            "at byte 0: found ',', expected: !, identifier, or 'end of string'",
        ),
        (
            "=a",
            "at byte 0: found '=', expected: !, identifier, or 'end of string'",
        ),
        (
            "a b",
            "at byte 2: found 'b', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "a !b",
            "at byte 2: found '!', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "a=b c",
            "at byte 4: found 'c', expected: ',' or 'end of string'",
        ),
        (
            "!a=b",
            "at byte 2: found '=', expected: ',' or 'end of string'",
        ),
        ("!", "at byte 1: found end of string, expected: identifier"),
        ("!!a", "at byte 1: found '!', expected: identifier"),
        ("a in x", "at byte 5: found 'x', expected: '('"),
        ("a in", "at byte 4: found end of string, expected: '('"),
        ("a in (x y)", "at byte 8: found 'y', expected: ',' or ')'"),
        (
            "a in (x",
            "at byte 7: found end of string, expected: ',' or ')'",
        ),
        (
            "a in (=)",
            "at byte 6: found '=', expected: ',', ')' or identifier",
        ),
        (
            "a in (x,(",
            "at byte 8: found '(', expected: ',', ')' or identifier",
        ),
        ("a===b", "at byte 3: found '=', expected: identifier"),
        (
            "a=b)",
            "at byte 3: found ')', expected: ',' or 'end of string'",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(parse_error(input), message, "input {input:?}");
    }
}

#[test]
fn syntax_error_carries_structured_fields() {
    assert_eq!(
        Selector::parse("a=("),
        Err(SelectorError::Syntax {
            position: 2,
            found: Some("(".to_owned()),
            expected: "identifier"
        })
    );
}

#[test]
fn invalid_keys_and_values_are_rejected_with_upstream_messages() {
    assert_eq!(
        parse_error("x,-a=b"),
        format!("at byte 2: invalid label key \"-a\": {NAME_PART_REGEX_MESSAGE}")
    );
    assert_eq!(
        parse_error("a=-x"),
        format!("at byte 2: invalid value \"-x\" for label key \"a\": {LABEL_VALUE_REGEX_MESSAGE}")
    );
    assert_eq!(
        parse_error("a in (ok, b@d)"),
        format!(
            "at byte 10: invalid value \"b@d\" for label key \"a\": {LABEL_VALUE_REGEX_MESSAGE}"
        )
    );
    assert_eq!(
        parse_error("a>x"),
        "at byte 2: invalid value \"x\" for label key \"a\": for 'Gt', 'Lt' operators, the value \
         must be an integer"
    );
    assert_eq!(
        parse_error("a<"),
        "at byte 2: invalid value \"\" for label key \"a\": for 'Gt', 'Lt' operators, the value \
         must be an integer"
    );
    assert_eq!(
        parse_error("Example.com/a"),
        format!(
            "at byte 0: invalid label key \"Example.com/a\": prefix part {SUBDOMAIN_REGEX_MESSAGE}"
        )
    );
}

#[test]
fn non_ascii_input_is_an_invalid_key_not_a_panic() {
    assert_eq!(
        parse_error("é=1"),
        format!("at byte 0: invalid label key \"é\": {NAME_PART_REGEX_MESSAGE}")
    );
    assert!(Selector::parse("a=\u{0}").is_err());
}

#[test]
fn requirement_new_checks_like_upstream_new_requirement() {
    let none: [&str; 0] = [];
    assert_eq!(
        Requirement::new("a", Operator::In, none)
            .unwrap_err()
            .to_string(),
        "values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
    );
    assert_eq!(
        Requirement::new("a", Operator::Exists, ["x"])
            .unwrap_err()
            .to_string(),
        "values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
    );
    assert_eq!(
        Requirement::new("a", Operator::Equals, ["x", "y"])
            .unwrap_err()
            .to_string(),
        "values: Invalid value: 2 values: exact-match compatibility requires one single value"
    );
    assert_eq!(
        Requirement::new("a", Operator::Lt, none)
            .unwrap_err()
            .to_string(),
        "values: Invalid value: 0 values: for 'Gt', 'Lt' operators, exactly one value is required"
    );
    assert_eq!(
        Requirement::new("a", Operator::Gt, ["1x"])
            .unwrap_err()
            .to_string(),
        "values[0]: Invalid value: \"1x\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        Requirement::new("a/b/c", Operator::Exists, none)
            .unwrap_err()
            .to_string(),
        "key: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, \
         '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  \
         or 'my.name',  or '123-abc', regex used for validation is \
         '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and \
         '/' (e.g. 'example.com/MyName')"
    );
}

#[test]
fn requirement_matching_follows_upstream_cases() {
    type Case = (&'static str, &'static [(&'static str, &'static str)], bool);
    let cases: [Case; 20] = [
        ("a=b", &[("a", "b")], true),
        ("a=b", &[("a", "c")], false),
        ("a=b", &[], false),
        ("a=", &[("a", "")], true),
        ("a!=b", &[], true),
        ("a!=b", &[("a", "b")], false),
        ("a!=b", &[("a", "c")], true),
        ("a in (x,y)", &[("a", "y")], true),
        ("a in (x,y)", &[], false),
        ("a notin (x,y)", &[], true),
        ("a notin (x,y)", &[("a", "x")], false),
        ("a", &[("a", "")], true),
        ("a", &[("b", "")], false),
        ("!a", &[("b", "")], true),
        ("!a", &[("a", "")], false),
        ("a>5", &[("a", "10")], true),
        ("a>5", &[("a", "5")], false),
        ("a<5", &[("a", "-3")], true),
        ("a<5", &[("a", "x")], false),
        ("a>5", &[], false),
    ];
    for (input, pairs, expected) in cases {
        assert_eq!(
            parse(input).matches(&labels(pairs)),
            expected,
            "{input:?} on {pairs:?}"
        );
    }
}

#[test]
fn requires_exact_match_reports_pinned_values() {
    let selector = parse("a=x,b in (y),c in (y,z),d!=w");
    assert_eq!(selector.requires_exact_match("a"), Some("x"));
    assert_eq!(selector.requires_exact_match("b"), Some("y"));
    assert_eq!(selector.requires_exact_match("c"), None);
    assert_eq!(selector.requires_exact_match("d"), None);
    assert_eq!(selector.requires_exact_match("e"), None);
    assert_eq!(Selector::nothing().requires_exact_match("a"), None);
}

// ---------------------------------------------------------------------------------------------
// LabelSelector.
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_label_selector_matches_everything_and_missing_matches_nothing() {
    let empty = LabelSelector::default();
    let some_labels = labels(&[("app", "web")]);
    assert_eq!(empty.to_selector(), Ok(Selector::everything()));
    assert!(empty.matches(&some_labels));
    assert!(selector_matches(Some(&empty), &some_labels));
    assert!(!selector_matches(None, &some_labels));
    assert!(!selector_matches(None, &labels(&[])));
}

#[test]
fn label_selector_compiles_labels_and_expressions() {
    let selector = LabelSelector {
        match_labels: labels(&[("app", "web")]),
        match_expressions: vec![
            expression("tier", "In", &["b", "a", "b"]),
            expression("canary", "DoesNotExist", &[]),
            expression("env", "NotIn", &["dev"]),
            expression("zone", "Exists", &[]),
        ],
    };
    let compiled = selector.to_selector().unwrap();
    assert_eq!(
        compiled.to_string(),
        "app=web,!canary,env notin (dev),tier in (a,b),zone"
    );
    assert!(compiled.matches(&labels(&[("app", "web"), ("tier", "a"), ("zone", "z")])));
    assert!(!compiled.matches(&labels(&[("app", "web"), ("tier", "a")])));
    assert!(selector.validate().is_empty());
}

#[test]
fn from_labels_requires_exactly_those_labels() {
    let selector = LabelSelector::from_labels(labels(&[("app", "web"), ("tier", "fe")]));
    assert!(selector.matches(&labels(&[("app", "web"), ("tier", "fe"), ("x", "y")])));
    assert!(!selector.matches(&labels(&[("app", "web")])));
    assert_eq!(
        selector.to_selector().unwrap().to_string(),
        "app=web,tier=fe"
    );
}

#[test]
fn label_selector_errors_carry_field_paths() {
    let selector = LabelSelector {
        match_labels: labels(&[("-bad", "ok"), ("good", "-bad")]),
        match_expressions: vec![
            expression("a", "In", &[]),
            expression("b", "Exists", &["x"]),
            expression("c", "Gt", &["1"]),
            expression("d", "in", &["x"]),
            expression("e", "NotIn", &["ok", "b@d"]),
            expression("", "Exists", &[]),
        ],
    };
    let messages: Vec<String> = selector
        .validate()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        [
            format!("matchLabels: Invalid value: \"-bad\": {NAME_PART_REGEX_MESSAGE}"),
            format!("matchLabels: Invalid value: \"-bad\": {LABEL_VALUE_REGEX_MESSAGE}"),
            "matchExpressions[0].values: Required value: must be specified when `operator` is \
             'In' or 'NotIn'"
                .to_owned(),
            "matchExpressions[1].values: Forbidden: may not be specified when `operator` is \
             'Exists' or 'DoesNotExist'"
                .to_owned(),
            "matchExpressions[2].operator: Unsupported value: \"Gt\": supported values: \
             \"DoesNotExist\", \"Exists\", \"In\", \"NotIn\""
                .to_owned(),
            "matchExpressions[3].operator: Unsupported value: \"in\": supported values: \
             \"DoesNotExist\", \"Exists\", \"In\", \"NotIn\""
                .to_owned(),
            format!(
                "matchExpressions[4].values[1]: Invalid value: \"b@d\": {LABEL_VALUE_REGEX_MESSAGE}"
            ),
            format!(
                "matchExpressions[5].key: Invalid value: \"\": name part must be non-empty; \
                 {NAME_PART_REGEX_MESSAGE}"
            ),
        ]
    );
    assert_eq!(
        selector.to_selector(),
        Err(SelectorError::Invalid {
            field: "matchLabels".to_owned(),
            value: "-bad".to_owned(),
            reason: NAME_PART_REGEX_MESSAGE.to_owned(),
        })
    );
}

#[test]
fn invalid_label_selector_matches_nothing() {
    let selector = LabelSelector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![expression("a", "Bogus", &[])],
    };
    assert!(!selector.matches(&labels(&[("a", "x")])));
    assert!(!selector_matches(Some(&selector), &labels(&[])));
}

#[test]
fn label_selector_wire_form_tolerates_null_and_rejects_unknown_fields() {
    let selector: LabelSelector =
        serde_json::from_str(r#"{"matchLabels":null,"matchExpressions":null}"#).unwrap();
    assert_eq!(selector, LabelSelector::default());
    let selector: LabelSelector = serde_json::from_str(
        r#"{"matchExpressions":[{"key":"a","operator":"Exists","values":null}]}"#,
    )
    .unwrap();
    assert_eq!(
        selector.match_expressions,
        vec![expression("a", "Exists", &[])]
    );
    let selector: LabelSelector =
        serde_saphyr::from_str("matchLabels:\nmatchExpressions:\n").unwrap();
    assert_eq!(selector, LabelSelector::default());
    let unknown = serde_json::from_str::<LabelSelector>(r#"{"matchLabel":{}}"#).unwrap_err();
    assert!(
        unknown
            .to_string()
            .starts_with("unknown field `matchLabel`"),
        "{unknown}"
    );
    // An unknown operator decodes, and is a validation error instead.
    let bogus: LabelSelector = serde_json::from_str(
        r#"{"matchExpressions":[{"key":"a","operator":"Gt","values":["1"]}]}"#,
    )
    .unwrap();
    assert_eq!(bogus.validate().len(), 1);
    assert_eq!(
        serde_json::to_string(&LabelSelector::from_labels(labels(&[("a", "b")]))).unwrap(),
        r#"{"matchLabels":{"a":"b"}}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Name syntax.
// ---------------------------------------------------------------------------------------------

#[test]
fn label_keys_follow_qualified_name_rules() {
    for key in [
        "a",
        "A-b_c.d",
        "123",
        "example.com/MyName",
        "a/b",
        &"x".repeat(63),
    ] {
        assert_eq!(validate_label_key(key), Ok(()), "{key:?}");
    }
    let long_prefix = format!("{}/a", "a".repeat(254));
    assert_eq!(
        validate_label_key(&long_prefix),
        Err("prefix part must be no more than 253 characters".to_owned())
    );
    assert_eq!(
        validate_label_key(&"x".repeat(64)),
        Err("name part must be no more than 63 characters".to_owned())
    );
    assert_eq!(
        validate_label_key("/a"),
        Err("prefix part must be non-empty".to_owned())
    );
    assert_eq!(
        validate_label_key("a/"),
        Err(format!(
            "name part must be non-empty; {NAME_PART_REGEX_MESSAGE}"
        ))
    );
    assert_eq!(
        validate_label_key("a_"),
        Err(NAME_PART_REGEX_MESSAGE.to_owned())
    );
    assert_eq!(
        validate_label_key("a.b_/c"),
        Err(format!("prefix part {SUBDOMAIN_REGEX_MESSAGE}"))
    );
}

#[test]
fn label_values_may_be_empty_and_follow_name_rules() {
    for value in ["", "a", "my_value", "12345", "A.b-c", &"v".repeat(63)] {
        assert_eq!(validate_label_value(value), Ok(()), "{value:?}");
    }
    assert_eq!(
        validate_label_value("-a"),
        Err(LABEL_VALUE_REGEX_MESSAGE.to_owned())
    );
    assert_eq!(
        validate_label_value("a/b"),
        Err(LABEL_VALUE_REGEX_MESSAGE.to_owned())
    );
    assert_eq!(
        validate_label_value(&"v".repeat(64)),
        Err("must be no more than 63 characters".to_owned())
    );
    assert_eq!(
        validate_label_value(&format!("{}-", "v".repeat(63))),
        Err(format!(
            "must be no more than 63 characters; {LABEL_VALUE_REGEX_MESSAGE}"
        ))
    );
}

#[test]
fn dns1123_names_follow_upstream_rules_and_messages() {
    assert_eq!(validate_dns1123_subdomain("example.com"), Ok(()));
    assert_eq!(validate_dns1123_subdomain("a-1.b"), Ok(()));
    assert_eq!(
        validate_dns1123_subdomain("Example.com"),
        Err(SUBDOMAIN_REGEX_MESSAGE.to_owned())
    );
    assert_eq!(
        validate_dns1123_subdomain(""),
        Err(SUBDOMAIN_REGEX_MESSAGE.to_owned())
    );
    assert_eq!(
        validate_dns1123_subdomain("a..b"),
        Err(SUBDOMAIN_REGEX_MESSAGE.to_owned())
    );
    assert_eq!(
        validate_dns1123_subdomain("a."),
        Err(SUBDOMAIN_REGEX_MESSAGE.to_owned())
    );
    let long = ["a"; 127].join(".");
    assert_eq!(long.len(), 253);
    assert_eq!(validate_dns1123_subdomain(&long), Ok(()));
    assert_eq!(
        validate_dns1123_subdomain(&format!("{long}a")),
        Err("must be no more than 253 characters".to_owned())
    );

    assert_eq!(validate_dns1123_label("my-name"), Ok(()));
    assert_eq!(validate_dns1123_label("123-abc"), Ok(()));
    assert_eq!(
        validate_dns1123_label("a.b"),
        Err("must not contain dots".to_owned())
    );
    let label_message = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
         characters or '-', and must start and end with an alphanumeric character (e.g. \
         'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    assert_eq!(validate_dns1123_label("-a"), Err(label_message.to_owned()));
    assert_eq!(validate_dns1123_label("My"), Err(label_message.to_owned()));
    assert_eq!(validate_dns1123_label(""), Err(label_message.to_owned()));
    assert_eq!(
        validate_dns1123_label(&"a".repeat(64)),
        Err("must be no more than 63 characters".to_owned())
    );
}

// ---------------------------------------------------------------------------------------------
// Field selectors.
// ---------------------------------------------------------------------------------------------

fn field_lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map = labels(pairs);
    move |field| map.get(field).cloned()
}

#[test]
fn field_selectors_parse_to_canonical_prints() {
    let cases = [
        ("", ""),
        (",", ""),
        ("metadata.name=x", "metadata.name=x"),
        ("status.phase==Running", "status.phase=Running"),
        (
            "spec.nodeName!=y,metadata.name=x",
            "metadata.name=x,spec.nodeName!=y",
        ),
        ("spec.nodeName=", "spec.nodeName="),
        ("a=x\\,y", "a=x\\,y"),
        ("a=x\\=y\\\\", "a=x\\=y\\\\"),
        ("a=b,,c=d", "a=b,c=d"),
        (" a = b ", " a = b "),
        ("=x", "=x"),
        ("a!b=c", "a!b=c"),
        ("a=é", "a=é"),
    ];
    for (input, canonical) in cases {
        let selector = FieldSelector::parse(input).unwrap();
        assert_eq!(selector.to_string(), canonical, "print of {input:?}");
        assert_eq!(
            FieldSelector::parse(canonical).unwrap(),
            selector,
            "reparse of {input:?}"
        );
    }
    let selector = FieldSelector::parse("a=x\\,y,b!=1").unwrap();
    assert_eq!(
        selector.requirements(),
        [
            FieldRequirement::new("a", FieldOperator::Equals, "x,y").unwrap(),
            FieldRequirement::new("b", FieldOperator::NotEquals, "1").unwrap(),
        ]
    );
}

#[test]
fn field_selector_errors_name_the_position() {
    let cases = [
        (
            "a=b,c",
            "at byte 4: invalid field selector: can't understand 'c', expected: <field>=<value>, \
             <field>==<value> or <field>!=<value>",
        ),
        (
            "a=b=c",
            "at byte 3: invalid field selector: unescaped character in value: =",
        ),
        (
            "a!==b",
            "at byte 3: invalid field selector: unescaped character in value: =",
        ),
        (
            "x=1,a=\\q",
            "at byte 6: invalid field selector: invalid escape sequence: \\q",
        ),
        (
            "a=b\\",
            "at byte 3: invalid field selector: invalid escape sequence: \\",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(field_error(input), message, "input {input:?}");
    }
    assert_eq!(
        FieldRequirement::new("a!", FieldOperator::Equals, "b")
            .unwrap_err()
            .to_string(),
        "invalid field selector: field \"a!\" must not contain '=', ',' or '\\', nor end with '!'"
    );
}

#[test]
fn field_selector_matches_through_the_lookup() {
    let pod = field_lookup(&[("metadata.name", "web-1"), ("status.phase", "Running")]);
    let cases = [
        ("", true),
        ("metadata.name=web-1", true),
        ("metadata.name==web-1,status.phase=Running", true),
        ("metadata.name=web-2", false),
        ("status.phase!=Running", false),
        ("status.phase!=Pending", true),
        // A missing field reads as "", as upstream Fields.Get.
        ("spec.nodeName=", true),
        ("spec.nodeName!=", false),
        ("spec.nodeName=n1", false),
    ];
    for (input, expected) in cases {
        assert_eq!(
            FieldSelector::parse(input).unwrap().matches(&pod),
            expected,
            "{input:?}"
        );
    }
    let selector = FieldSelector::parse("metadata.name=a,status.phase!=b").unwrap();
    assert_eq!(selector.requires_exact_match("metadata.name"), Some("a"));
    assert_eq!(selector.requires_exact_match("status.phase"), None);
    assert!(FieldSelector::everything().is_empty());
}

#[test]
fn fuzz_body_accepts_samples() {
    for input in [
        "", "a=b", "a in (,)", "x=\\,", "é", "(((", "a=b,", "\\", "!=,==",
    ] {
        fuzz_selector_parse(input);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

/// Operators as the brute-force model sees them: (operator, values).
fn small_requirement() -> impl Strategy<Value = (String, Operator, Vec<String>)> {
    let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
    let value = prop::sample::select(vec!["", "x", "y", "1", "2", "10"]).prop_map(str::to_owned);
    let integer = prop::sample::select(vec!["0", "1", "2", "10"]).prop_map(str::to_owned);
    let shape = prop_oneof![
        value.clone().prop_map(|v| (Operator::Equals, vec![v])),
        value.clone().prop_map(|v| (Operator::NotEquals, vec![v])),
        prop::collection::vec(value.clone(), 1..4).prop_map(|v| (Operator::In, v)),
        prop::collection::vec(value, 1..4).prop_map(|v| (Operator::NotIn, v)),
        Just((Operator::Exists, vec![])),
        Just((Operator::DoesNotExist, vec![])),
        integer.clone().prop_map(|v| (Operator::Gt, vec![v])),
        integer.prop_map(|v| (Operator::Lt, vec![v])),
    ];
    (key, shape).prop_map(|(key, (operator, values))| (key, operator, values))
}

fn small_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
    let value =
        prop::sample::select(vec!["", "x", "y", "1", "2", "10", "-1"]).prop_map(str::to_owned);
    prop::collection::btree_map(key, value, 0..4)
}

/// The model: evaluates one requirement straight from its parts.
fn model_matches(
    key: &str,
    operator: Operator,
    values: &[String],
    labels: &BTreeMap<String, String>,
) -> bool {
    let label = labels.get(key);
    let in_values = label.is_some_and(|l| values.contains(l));
    let compare = |ordering: std::cmp::Ordering| {
        let Some(Ok(label)) = label.map(|l| l.parse::<i64>()) else {
            return false;
        };
        label.cmp(&values[0].parse::<i64>().unwrap()) == ordering
    };
    match operator {
        Operator::Equals => label == Some(&values[0]),
        Operator::NotEquals => label != Some(&values[0]),
        Operator::In => in_values,
        Operator::NotIn => !in_values,
        Operator::Exists => label.is_some(),
        Operator::DoesNotExist => label.is_none(),
        Operator::Gt => compare(std::cmp::Ordering::Greater),
        Operator::Lt => compare(std::cmp::Ordering::Less),
    }
}

/// Realistic keys, including prefixes and the words `in`/`notin`.
fn any_key() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["", "example.com/", "a.b-c/", "x/"]);
    let name = prop_oneof![
        Just("in".to_owned()),
        Just("notin".to_owned()),
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?",
    ];
    (prefix, name).prop_map(|(prefix, name)| format!("{prefix}{name}"))
}

fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("in".to_owned()),
        Just("notin".to_owned()),
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?",
    ]
}

fn any_requirement() -> impl Strategy<Value = Requirement> {
    let shape = prop_oneof![
        any_value().prop_map(|v| (Operator::Equals, vec![v])),
        any_value().prop_map(|v| (Operator::NotEquals, vec![v])),
        prop::collection::vec(any_value(), 1..4).prop_map(|v| (Operator::In, v)),
        prop::collection::vec(any_value(), 1..4).prop_map(|v| (Operator::NotIn, v)),
        Just((Operator::Exists, vec![])),
        Just((Operator::DoesNotExist, vec![])),
        "[0-9]{1,4}".prop_map(|v| (Operator::Gt, vec![v])),
        "[0-9]{1,4}".prop_map(|v| (Operator::Lt, vec![v])),
    ];
    (any_key(), shape).prop_map(|(key, (operator, values))| {
        Requirement::new(key, operator, values).expect("strategy makes valid requirements")
    })
}

fn small_expression() -> impl Strategy<Value = LabelSelectorRequirement> {
    let key = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
    let value = prop::sample::select(vec!["", "x", "y"]).prop_map(str::to_owned);
    let shape = prop_oneof![
        prop::collection::vec(value.clone(), 1..3).prop_map(|v| ("In", v)),
        prop::collection::vec(value, 1..3).prop_map(|v| ("NotIn", v)),
        Just(("Exists", vec![])),
        Just(("DoesNotExist", vec![])),
    ];
    (key, shape).prop_map(|(key, (operator, values))| LabelSelectorRequirement {
        key,
        operator: operator.to_owned(),
        values,
    })
}

/// Strings made of selector-ish pieces, so the parser's deeper paths are reached.
fn selector_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a", "b", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", " ", ">", "<", "1", "x/y",
        "-", "\\", "é", "\t",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn printed_selectors_parse_back_equal(requirements in prop::collection::vec(any_requirement(), 0..6)) {
        let selector = Selector::from_requirements(requirements);
        let printed = selector.to_string();
        prop_assert_eq!(Selector::parse(&printed), Ok(selector), "printed {}", printed);
    }

    #[test]
    fn matches_agrees_with_brute_force_model(
        parts in prop::collection::vec(small_requirement(), 0..5),
        labels in small_labels(),
    ) {
        let expected = parts.iter().all(|(k, op, vs)| model_matches(k, *op, vs, &labels));
        let requirements: Vec<Requirement> = parts
            .iter()
            .map(|(k, op, vs)| Requirement::new(k.clone(), *op, vs.clone()).unwrap())
            .collect();
        // Each requirement alone, so one wrong answer is not hidden by the conjunction.
        for ((k, op, vs), requirement) in parts.iter().zip(&requirements) {
            prop_assert_eq!(
                requirement.matches(&labels),
                model_matches(k, *op, vs, &labels),
                "requirement {}", requirement
            );
        }
        let selector = Selector::from_requirements(requirements);
        prop_assert_eq!(selector.matches(&labels), expected, "selector {}", selector);
        let reparsed = Selector::parse(&selector.to_string()).unwrap();
        prop_assert_eq!(reparsed.matches(&labels), expected);
    }

    #[test]
    fn label_selector_matching_agrees_with_direct_evaluation(
        match_labels in prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned),
            prop::sample::select(vec!["", "x", "y"]).prop_map(str::to_owned),
            0..3,
        ),
        match_expressions in prop::collection::vec(small_expression(), 0..4),
        labels in small_labels(),
    ) {
        let expected = match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => !value.is_some_and(|v| e.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    other => unreachable!("strategy made operator {other}"),
                }
            });
        let selector = LabelSelector { match_labels, match_expressions };
        prop_assert_eq!(selector.to_selector().unwrap().matches(&labels), expected);
        prop_assert_eq!(selector.matches(&labels), expected);
        prop_assert_eq!(selector_matches(Some(&selector), &labels), expected);
    }

    #[test]
    fn parsing_arbitrary_strings_never_panics(input in any::<String>()) {
        fuzz_selector_parse(&input);
    }

    #[test]
    fn parsing_selector_soup_never_panics_and_round_trips(input in selector_soup()) {
        fuzz_selector_parse(&input);
    }

    #[test]
    fn printed_field_selectors_parse_back_equal(
        terms in prop::collection::vec(
            (
                "[a-z.]{0,8}",
                prop_oneof![Just(FieldOperator::Equals), Just(FieldOperator::NotEquals)],
                "[a-z=,\\\\!é ]{0,6}",
            ),
            0..4,
        ),
    ) {
        let selector = FieldSelector::from_requirements(terms.into_iter().map(|(field, op, value)| {
            FieldRequirement::new(field, op, value).unwrap()
        }));
        let printed = selector.to_string();
        prop_assert_eq!(FieldSelector::parse(&printed), Ok(selector), "printed {}", printed);
    }
}

#[test]
fn requirement_values_are_a_sorted_set() {
    let requirement = Requirement::new("a", Operator::In, ["y", "x", "y"]).unwrap();
    assert_eq!(
        requirement.values(),
        &BTreeSet::from(["x".to_owned(), "y".to_owned()])
    );
    assert_eq!(requirement.to_string(), "a in (x,y)");
    assert_eq!(requirement.operator().as_str(), "in");
}
