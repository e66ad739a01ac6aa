//! Bodies of the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`), as plain functions so that an
//! ordinary `#[test]` replays the saved corpus and regressions on stable.
//!
//! Each body panics only when skiff breaks a promise (a round trip that is not exact, an error
//! without a location); a panic inside the parser itself is a bug the fuzzer reports.

use std::collections::BTreeMap;

use crate::manifest::{self, ManifestErrorKind};
use crate::object::{KindRegistry, Object};
use crate::quantity::{Format, Quantity};
use crate::selector::{
    FieldOperator, FieldSelector, FieldSelectorError, LabelSelector, LabelSelectorRequirement,
    Operator, Requirement, Selector, SelectorError, fuzz_selector_parse,
};
use crate::validate::validate_object;

/// The `manifest` target: parse arbitrary bytes as a manifest stream; every error must carry a
/// location, and every object that parses must validate without panicking and round-trip
/// exactly through YAML, JSON and bincode.
///
/// # Panics
///
/// When a promise above is broken.
pub fn manifest(data: &[u8]) {
    let parsed = manifest::parse_bytes("fuzz.yaml", data);
    for error in &parsed.errors {
        let whole_stream = error.location.document == 0;
        assert!(
            whole_stream || error.location.line.is_some(),
            "error without a line: {error}"
        );
        if !whole_stream {
            assert!(
                !matches!(error.kind, ManifestErrorKind::TooLarge { .. }) || error.field.is_none(),
                "budget error with a field: {error}"
            );
        }
    }
    for document in &parsed.documents {
        let _ = validate_object(&document.object);
        round_trip(&document.object);
    }
}

/// Asserts that `object` survives YAML, JSON and bincode unchanged.
///
/// # Panics
///
/// When any round trip changes the object or its bytes.
pub fn round_trip(object: &Object) {
    let yaml = manifest::to_yaml(object).expect("an object serializes to YAML");
    let back = manifest::parse_str("round-trip.yaml", &yaml)
        .unwrap_or_else(|e| panic!("YAML output does not parse back: {e}\n{yaml}"));
    assert_eq!(back.len(), 1, "one object in, one document out:\n{yaml}");
    assert_eq!(
        &back[0], object,
        "YAML round trip changed the object:\n{yaml}"
    );

    let json = manifest::to_json(object).expect("an object serializes to JSON");
    let back = manifest::parse_str("round-trip.json", &json)
        .unwrap_or_else(|e| panic!("JSON output does not parse back: {e}\n{json}"));
    assert_eq!(
        &back[0], object,
        "JSON round trip changed the object:\n{json}"
    );

    let config = bincode::config::standard();
    let bytes = bincode::encode_to_vec(object, config).expect("an object encodes");
    let (decoded, used): (Object, usize) =
        bincode::decode_from_slice_with_context(&bytes, config, KindRegistry::builtin())
            .expect("encoded bytes decode");
    assert_eq!(used, bytes.len(), "bincode decode left trailing bytes");
    assert_eq!(&decoded, object, "bincode round trip changed the object");
    let again = bincode::encode_to_vec(&decoded, config).expect("an object encodes");
    assert_eq!(again, bytes, "bincode re-encoding differs");
}

// ---------------------------------------------------------------------------------------------
// `quantity`.
// ---------------------------------------------------------------------------------------------

/// The `quantity` target: arbitrary bytes as quantity text and as bincode
/// ([`crate::quantity::fuzz_parse`]: canonical text parses back to the same value and prints
/// the same again, bincode round-trips), then, for the text before the first NUL (and after
/// it, a second operand):
///
/// - every [`Format`] prints a text that parses back to the same value and is a fixed point;
/// - `value()` and `milli_value()` round away from zero, checked against whole/milli
///   quantities built without the parser;
/// - serde JSON round-trips value and text;
/// - `checked_add`/`checked_sub` agree with each other and with the order: `a - b` has the
///   sign of `a.cmp(&b)`, `(a + b) - b == a`.
///
/// # Panics
///
/// When one of those promises is broken.
pub fn quantity(data: &[u8]) {
    crate::quantity::fuzz_parse(data);
    let (first, second) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let parse = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| Quantity::parse(text).ok())
    };
    let Some(a) = parse(first) else { return };
    quantity_formats_are_fixed_points(&a);
    quantity_rounding_matches_model(&a);
    let json = serde_json::to_string(&a).expect("a quantity serializes to JSON");
    let back: Quantity = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("JSON {json} of {a} does not parse back: {e}"));
    assert_eq!(back, a, "JSON round trip changed the value of {a}");
    assert_eq!(
        back.to_string(),
        a.to_string(),
        "JSON round trip changed the text"
    );

    let Some(b) = second.and_then(parse) else {
        return;
    };
    let zero = Quantity::default();
    if let Some(difference) = a.checked_sub(&b) {
        assert_eq!(
            difference.cmp(&zero),
            a.cmp(&b),
            "sign of {a} - {b} = {difference} disagrees with the order"
        );
        let back = difference
            .checked_add(&b)
            .unwrap_or_else(|| panic!("({a} - {b}) + {b} overflows"));
        assert_eq!(back, a, "({a} - {b}) + {b} is not {a}");
    }
    match (a.checked_add(&b), b.checked_add(&a)) {
        (Some(ab), Some(ba)) => {
            assert_eq!(ab, ba, "{a} + {b} is not commutative");
            let back = ab
                .checked_sub(&b)
                .unwrap_or_else(|| panic!("({a} + {b}) - {b} overflows"));
            assert_eq!(back, a, "({a} + {b}) - {b} is not {a}");
            quantity_formats_are_fixed_points(&ab);
        }
        (None, None) => {}
        (ab, ba) => panic!("{a} + {b} = {ab:?} but {b} + {a} = {ba:?}"),
    }
}

/// Each format's text of `quantity` parses back to the same value and prints the same again.
fn quantity_formats_are_fixed_points(quantity: &Quantity) {
    for format in [Format::DecimalSI, Format::BinarySI, Format::DecimalExponent] {
        let written = quantity.clone().with_format(format);
        let text = written.to_string();
        let again = Quantity::parse(&text)
            .unwrap_or_else(|e| panic!("{quantity} as {format:?} printed {text:?}: {e}"));
        assert_eq!(again, written, "{format:?} text {text:?} changed the value");
        assert_eq!(
            again.to_string(),
            text,
            "{format:?} text {text:?} is not a fixed point"
        );
    }
}

/// `value()` and `milli_value()` against quantities built from integers (no parser): away from
/// zero means `n - 1 < q <= n` for positive `q` and `n <= q < n + 1` for negative `q`.
fn quantity_rounding_matches_model(quantity: &Quantity) {
    let zero = Quantity::default();
    for (rounded, build, what) in [
        (
            quantity.value(),
            (|n| Quantity::new(n, Format::DecimalSI)) as fn(i64) -> Quantity,
            "value",
        ),
        (quantity.milli_value(), Quantity::from_milli, "milli_value"),
    ] {
        if rounded == i64::MAX || rounded == i64::MIN {
            // Saturated: only the direction is promised.
            assert_eq!(
                rounded.cmp(&0),
                quantity.cmp(&zero),
                "{what} of {quantity} saturated the wrong way"
            );
            continue;
        }
        let at = build(rounded);
        match quantity.cmp(&zero) {
            std::cmp::Ordering::Equal => assert_eq!(rounded, 0, "{what} of 0"),
            std::cmp::Ordering::Greater => {
                assert!(
                    at >= *quantity,
                    "{what} of {quantity} is {rounded}: too small"
                );
                assert!(
                    build(rounded - 1) < *quantity,
                    "{what} of {quantity} is {rounded}: too big"
                );
            }
            std::cmp::Ordering::Less => {
                assert!(
                    at <= *quantity,
                    "{what} of {quantity} is {rounded}: too big"
                );
                assert!(
                    build(rounded + 1) > *quantity,
                    "{what} of {quantity} is {rounded}: too small"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `selector`.
// ---------------------------------------------------------------------------------------------

/// Label maps checked per input at most: a product over 3 keys of 5 choices is 125.
const SELECTOR_LABEL_MAPS_MAX: usize = 128;
/// Keys the brute-force label maps vary.
const SELECTOR_KEYS_MAX: usize = 3;
/// Values tried per key, besides "absent".
const SELECTOR_VALUES_PER_KEY_MAX: usize = 4;

/// The `selector` target: the text before the first NUL as a label selector and as a field
/// selector ([`crate::selector::fuzz_selector_parse`]: what parses prints canonically and
/// parses back equal). The text after the NUL, as `key=value` lines, is one more label map.
///
/// For label selectors, on every label map of a small product derived from the selector's own
/// keys and values (each key absent, or one of its values, a neighbouring integer, or `"zz"`):
///
/// - `matches` agrees with a brute-force model of each requirement (linear scans, no sets);
/// - the reparsed canonical text matches exactly the same maps;
/// - `requires_exact_match(key) == Some(v)` holds only if every matching map has `key=v`;
/// - the same selector as a `LabelSelector` (where it has one: no `>`/`<`) validates and
///   matches the same maps.
///
/// Field selectors get the same check against a model of `=`/`!=` on a field map.
///
/// # Panics
///
/// When one of those promises is broken.
pub fn selector(data: &[u8]) {
    let (text, extra) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    fuzz_selector_parse(text);
    let extra_labels: BTreeMap<String, String> = String::from_utf8_lossy(extra)
        .lines()
        .take(8)
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    match Selector::parse(text) {
        Ok(selector) => label_selector_matches_model(&selector, &extra_labels),
        Err(error) => {
            let position = match &error {
                SelectorError::Syntax { position, .. }
                | SelectorError::InvalidKey { position, .. }
                | SelectorError::InvalidValue { position, .. } => Some(*position),
                _ => None,
            };
            let position =
                position.unwrap_or_else(|| panic!("string error without a position: {error}"));
            assert!(
                position <= text.len(),
                "error position {position} past the end of {text:?}: {error}"
            );
        }
    }
    match FieldSelector::parse(text) {
        Ok(selector) => field_selector_matches_model(&selector),
        Err(error) => {
            let position = match &error {
                FieldSelectorError::NoOperator { position, .. }
                | FieldSelectorError::InvalidEscape { position, .. }
                | FieldSelectorError::UnescapedCharacter { position, .. } => *position,
                other => panic!("parse returned a constructor error: {other}"),
            };
            assert!(
                position <= text.len(),
                "error position {position} past the end of {text:?}: {error}"
            );
        }
    }
}

/// The brute-force meaning of one requirement: linear scans over the map and the values.
fn requirement_model(
    key: &str,
    operator: Operator,
    values: &[&String],
    labels: &BTreeMap<String, String>,
) -> bool {
    let label = labels
        .iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v);
    let listed = |v: &String| values.contains(&v);
    let integer = |v: &str| v.parse::<i64>().ok();
    match operator {
        Operator::Equals | Operator::In => label.is_some_and(listed),
        Operator::NotEquals | Operator::NotIn => label.is_none_or(|v| !listed(v)),
        Operator::Exists => label.is_some(),
        Operator::DoesNotExist => label.is_none(),
        Operator::Gt | Operator::Lt => {
            let (Some(label), [bound]) = (label.and_then(|v| integer(v)), values) else {
                return false;
            };
            let Some(bound) = integer(bound) else {
                return false;
            };
            if operator == Operator::Gt {
                label > bound
            } else {
                label < bound
            }
        }
    }
}

/// Label maps over the selector's first keys: each key absent or one of a few values.
fn label_maps(selector: &Selector) -> Vec<BTreeMap<String, String>> {
    let mut choices: Vec<(String, Vec<String>)> = Vec::new();
    for requirement in selector.requirements().unwrap_or_default() {
        let key = requirement.key().to_owned();
        let at = match choices.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None if choices.len() < SELECTOR_KEYS_MAX => {
                choices.push((key, Vec::new()));
                choices.len() - 1
            }
            None => continue,
        };
        let values = &mut choices[at].1;
        for value in requirement.values() {
            let mut candidates = vec![value.clone()];
            if let Ok(n) = value.parse::<i64>() {
                candidates
                    .extend([n.saturating_add(1), n.saturating_sub(1)].map(|m| m.to_string()));
            }
            for candidate in candidates {
                if values.len() < SELECTOR_VALUES_PER_KEY_MAX - 1 && !values.contains(&candidate) {
                    values.push(candidate);
                }
            }
        }
    }
    for (_, values) in &mut choices {
        values.push("zz".to_owned());
    }
    let mut maps = vec![BTreeMap::new()];
    for (key, values) in &choices {
        let mut next = Vec::new();
        for map in &maps {
            next.push(map.clone());
            for value in values {
                let mut with = map.clone();
                with.insert(key.clone(), value.clone());
                next.push(with);
            }
        }
        next.truncate(SELECTOR_LABEL_MAPS_MAX);
        maps = next;
    }
    maps
}

fn label_selector_matches_model(selector: &Selector, extra: &BTreeMap<String, String>) {
    let requirements = selector
        .requirements()
        .expect("a parsed selector is not `nothing`");
    let printed = selector.to_string();
    let reparsed = Selector::parse(&printed).expect("the canonical text parses");
    let structured = as_label_selector(requirements);
    let compiled = structured.as_ref().map(|s| {
        assert_eq!(
            s.validate(),
            Vec::new(),
            "{printed:?} as {s:?} does not validate"
        );
        s.to_selector()
            .unwrap_or_else(|e| panic!("{printed:?} as {s:?} does not compile: {e}"))
    });
    let mut maps = label_maps(selector);
    maps.push(extra.clone());
    for labels in &maps {
        let expected = requirements.iter().all(|r| {
            let values: Vec<&String> = r.values().iter().collect();
            requirement_model(r.key(), r.operator(), &values, labels)
        });
        assert_eq!(
            selector.matches(labels),
            expected,
            "{printed:?} on {labels:?} disagrees with the model"
        );
        assert_eq!(
            reparsed.matches(labels),
            expected,
            "reparsed {printed:?} on {labels:?}"
        );
        if let Some(compiled) = &compiled {
            assert_eq!(
                compiled.matches(labels),
                expected,
                "{printed:?} as a LabelSelector ({compiled}) on {labels:?}"
            );
        }
        if expected {
            for requirement in requirements {
                if let Some(value) = selector.requires_exact_match(requirement.key()) {
                    assert_eq!(
                        labels.get(requirement.key()).map(String::as_str),
                        Some(value),
                        "{printed:?} pins {}={value} but matches {labels:?}",
                        requirement.key()
                    );
                }
            }
        }
    }
}

/// The same requirements as a `LabelSelector`, if every operator has a structured form.
fn as_label_selector(requirements: &[Requirement]) -> Option<LabelSelector> {
    let mut selector = LabelSelector::default();
    for requirement in requirements {
        let values: Vec<String> = requirement.values().iter().cloned().collect();
        let (operator, values) = match requirement.operator() {
            Operator::Equals | Operator::In => ("In", values),
            Operator::NotEquals | Operator::NotIn => ("NotIn", values),
            Operator::Exists => ("Exists", Vec::new()),
            Operator::DoesNotExist => ("DoesNotExist", Vec::new()),
            Operator::Gt | Operator::Lt => return None,
        };
        selector.match_expressions.push(LabelSelectorRequirement {
            key: requirement.key().to_owned(),
            operator: operator.to_owned(),
            values,
        });
    }
    Some(selector)
}

fn field_selector_matches_model(selector: &FieldSelector) {
    let terms = selector.requirements();
    let mut choices: Vec<(String, Vec<String>)> = Vec::new();
    for term in terms.iter().take(SELECTOR_KEYS_MAX) {
        match choices.iter_mut().find(|(f, _)| f == term.field()) {
            Some((_, values)) => values.push(term.value().to_owned()),
            None => choices.push((term.field().to_owned(), vec![term.value().to_owned()])),
        }
    }
    let mut maps: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (field, values) in &choices {
        let mut next = Vec::new();
        for map in &maps {
            next.push(map.clone());
            for value in values
                .iter()
                .take(SELECTOR_VALUES_PER_KEY_MAX)
                .chain([&"zz".to_owned()])
            {
                let mut with = map.clone();
                with.push((field.clone(), value.clone()));
                next.push(with);
            }
        }
        next.truncate(SELECTOR_LABEL_MAPS_MAX);
        maps = next;
    }
    for fields in &maps {
        let lookup = |field: &str| {
            fields
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, v)| v.clone())
        };
        let expected = terms.iter().all(|term| {
            let actual = lookup(term.field()).unwrap_or_default();
            match term.operator() {
                FieldOperator::Equals => actual == term.value(),
                FieldOperator::NotEquals => actual != term.value(),
            }
        });
        assert_eq!(
            selector.matches(lookup),
            expected,
            "field selector {selector} on {fields:?} disagrees with the model"
        );
        if expected {
            for term in terms {
                if let Some(value) = selector.requires_exact_match(term.field()) {
                    assert_eq!(
                        lookup(term.field()).unwrap_or_default(),
                        value,
                        "{selector} pins {} but matches {fields:?}",
                        term.field()
                    );
                }
            }
        }
    }
}
