//! Bodies of the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`), as plain functions so that an
//! ordinary `#[test]` replays the saved corpus and regressions on stable.
//!
//! Each body panics only when skiff breaks a promise (a round trip that is not exact, an error
//! without a location); a panic inside the parser itself is a bug the fuzzer reports.

use crate::manifest::{self, ManifestErrorKind};
use crate::object::Object;
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
        bincode::decode_from_slice(&bytes, config).expect("encoded bytes decode");
    assert_eq!(used, bytes.len(), "bincode decode left trailing bytes");
    assert_eq!(&decoded, object, "bincode round trip changed the object");
    let again = bincode::encode_to_vec(&decoded, config).expect("an object encodes");
    assert_eq!(again, bytes, "bincode re-encoding differs");
}
