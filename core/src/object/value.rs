//! [`Value`]: an opaque JSON/YAML value, for fields skiff carries but does not act on.
//!
//! Real manifests carry fields skiff does not interpret (`securityContext`, `lifecycle`,
//! `topologySpreadConstraints`, …). They are neither dropped nor rejected: each such field is
//! declared on its type as a `Value`, so an unknown *name* is still an error while a known but
//! uninterpreted field comes back verbatim from `get -o yaml`.
//!
//! bincode's serde path cannot store `serde_json::Value` (`AnyNotSupported`), so `Value` has its
//! own `Encode`, and a `Decode` that bounds nesting so hostile bytes cannot exhaust the stack.

use std::collections::BTreeMap;
use std::fmt;

use bincode::de::{BorrowDecoder, Decoder};
use bincode::error::DecodeError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Deepest nesting a decoded [`Value`] may have. Preserved fields nest a few levels in practice;
/// the bound leaves room under the manifest parser's document depth (128, which is also
/// serde_json's recursion limit) for the object's own structure around the value, so every
/// value bincode accepts also parses back from YAML and JSON.
pub const VALUE_DEPTH_MAX: u32 = 64;

/// An opaque JSON-compatible value. Maps are ordered (`BTreeMap`) so encoding is deterministic.
#[derive(Debug, Clone, PartialEq, bincode::Encode)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A finite floating-point number (non-finite numbers are rejected: JSON cannot carry them).
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping with string keys.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Converts to a `serde_json::Value` (for JSON patches and the HTTP API).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::UInt(u) => serde_json::Value::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, v)?;
                }
                out.end()
            }
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON-compatible value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(i) = i64::try_from(v) {
            Ok(Value::Int(i))
        } else if let Ok(u) = u64::try_from(v) {
            Ok(Value::UInt(u))
        } else {
            Err(E::custom(format!("integer {v} is out of range")))
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(|u| i64::try_from(u).map_or(Value::UInt(u), Value::Int))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        if v.is_finite() {
            Ok(Value::Float(v))
        } else {
            Err(E::custom(format!(
                "non-finite number {v} cannot be represented in JSON"
            )))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            if map.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("duplicate key `{k}`")));
            }
        }
        Ok(Value::Map(map))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

fn decode_depth<D: Decoder>(decoder: &mut D, depth: u32) -> Result<Value, DecodeError> {
    if depth > VALUE_DEPTH_MAX {
        return Err(DecodeError::OtherString(format!(
            "value nested deeper than {VALUE_DEPTH_MAX} levels"
        )));
    }
    let tag: u32 = bincode::Decode::decode(decoder)?;
    Ok(match tag {
        0 => Value::Null,
        1 => Value::Bool(bincode::Decode::decode(decoder)?),
        2 => Value::Int(bincode::Decode::decode(decoder)?),
        3 => Value::UInt(bincode::Decode::decode(decoder)?),
        4 => {
            let f: f64 = bincode::Decode::decode(decoder)?;
            if !f.is_finite() {
                return Err(DecodeError::OtherString(format!("non-finite number {f}")));
            }
            Value::Float(f)
        }
        5 => Value::String(bincode::Decode::decode(decoder)?),
        6 => {
            let len: u64 = bincode::Decode::decode(decoder)?;
            let len = usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))?;
            // Every element takes at least one byte: claim before allocating.
            decoder.claim_container_read::<u8>(len)?;
            let mut items = Vec::new();
            for _ in 0..len {
                decoder.unclaim_bytes_read(1);
                items.push(decode_depth(decoder, depth + 1)?);
            }
            Value::Seq(items)
        }
        7 => {
            let len: u64 = bincode::Decode::decode(decoder)?;
            let len = usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))?;
            decoder.claim_container_read::<u8>(len)?;
            let mut map = BTreeMap::new();
            for _ in 0..len {
                decoder.unclaim_bytes_read(1);
                let key: String = bincode::Decode::decode(decoder)?;
                let value = decode_depth(decoder, depth + 1)?;
                if map.insert(key, value).is_some() {
                    return Err(DecodeError::Other("duplicate map key in value"));
                }
            }
            Value::Map(map)
        }
        found => {
            return Err(DecodeError::UnexpectedVariant {
                type_name: "Value",
                allowed: &bincode::error::AllowedEnumVariants::Range { min: 0, max: 7 },
                found,
            });
        }
    })
}

impl<Context> bincode::Decode<Context> for Value {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        decode_depth(decoder, 0)
    }
}

impl<'de, Context> bincode::BorrowDecode<'de, Context> for Value {
    fn borrow_decode<D: BorrowDecoder<'de, Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        decode_depth(decoder, 0)
    }
}

/// OpenAPI: any value, carried as written (`x-kubernetes-preserve-unknown-fields`).
impl schemars::JsonSchema for Value {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"x-kubernetes-preserve-unknown-fields": true})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value) -> Value {
        let config = bincode::config::standard();
        let bytes = bincode::encode_to_vec(value, config).unwrap();
        let (decoded, used): (Value, usize) = bincode::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len());
        decoded
    }

    #[test]
    fn value_round_trips_through_bincode() {
        let value: Value =
            serde_json::from_str(r#"{"a":[1,-2,18446744073709551615,1.5,"x",null,true,{"b":{}}]}"#)
                .unwrap();
        assert_eq!(round_trip(&value), value);
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"a":[1,-2,18446744073709551615,1.5,"x",null,true,{"b":{}}]}"#
        );
    }

    #[test]
    fn deeply_nested_bytes_are_rejected_without_overflowing_the_stack() {
        // Tag 6 (Seq) with length 1, repeated: each level costs two bytes.
        let mut bytes = Vec::new();
        for _ in 0..100_000 {
            bytes.extend_from_slice(&[6, 1]);
        }
        bytes.push(0);
        let err = bincode::decode_from_slice::<Value, _>(&bytes, bincode::config::standard())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OtherString(\"value nested deeper than 64 levels\")"
        );
    }

    #[test]
    fn huge_claimed_length_is_rejected_before_allocating() {
        let bytes = [6u8, 0xFC, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(
            bincode::decode_from_slice::<Value, _>(
                &bytes,
                bincode::config::standard().with_limit::<1024>()
            )
            .is_err()
        );
    }
}
