//! `IntOrString` (upstream `k8s.io/apimachinery/pkg/util/intstr`): a field that holds either a
//! number or a string, such as a port (`8080` or `http`) or a rollout budget (`1` or `25%`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// An integer or a string, e.g. a port number or a port name.
///
/// In YAML and JSON it is untagged: a number reads as [`IntOrString::Int`] and a string as
/// [`IntOrString::String`], even a string of digits (`"80"`), as upstream.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum IntOrString {
    /// An integer.
    Int(i32),
    /// A string.
    String(String),
}

impl Default for IntOrString {
    /// `Int(0)`, upstream's zero value.
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(value) => fmt::Display::fmt(value, f),
            IntOrString::String(value) => f.pad(value),
        }
    }
}

impl IntOrString {
    /// upstream `GetScaledValueFromIntOrPercent`: an `Int` as it is, or a percentage string
    /// (`"25%"`) of `total`, rounded up or down. `"25%"` of 10 is 3 rounding up, 2 rounding down.
    ///
    /// The percentage is computed exactly in integers, where upstream goes through `float64`.
    ///
    /// # Errors
    ///
    /// With upstream's messages: a string without a `%` suffix is
    /// `invalid value for IntOrString: invalid type: string is not a percentage`; a string whose
    /// part before `%` is not a 64-bit integer is
    /// `invalid value for IntOrString: invalid value "abc%": parsing "abc": invalid syntax`.
    /// A result that does not fit `i32` is an error too.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, String> {
        let text = match self {
            IntOrString::Int(value) => return Ok(*value),
            IntOrString::String(text) => text,
        };
        let Some(number) = text.strip_suffix('%') else {
            return Err(
                "invalid value for IntOrString: invalid type: string is not a percentage".into(),
            );
        };
        // upstream strconv.Atoi: an optional sign and decimal digits, 64 bits.
        let percent = number.parse::<i64>().map_err(|e| {
            let reason = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            format!("invalid value for IntOrString: invalid value {text:?}: parsing {number:?}: {reason}")
        })?;
        let product = i128::from(percent) * i128::from(total);
        let scaled = if round_up {
            -(-product).div_euclid(100)
        } else {
            product.div_euclid(100)
        };
        i32::try_from(scaled).map_err(|_| {
            format!("invalid value for IntOrString: {text} of {total} is {scaled}, which does not fit in 32 bits")
        })
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(value) => s.serialize_i32(*value),
            IntOrString::String(value) => s.serialize_str(value),
        }
    }
}

/// Reads an integer that fits `i32`, or a string.
struct IntOrStringVisitor;

impl IntOrStringVisitor {
    fn int<E: de::Error, T: Copy + fmt::Display>(value: T) -> Result<IntOrString, E>
    where
        i32: TryFrom<T>,
    {
        i32::try_from(value).map(IntOrString::Int).map_err(|_| {
            E::custom(format!(
                "integer {value} is out of range for IntOrString: it must fit in 32 bits"
            ))
        })
    }
}

impl de::Visitor<'_> for IntOrStringVisitor {
    type Value = IntOrString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
        Self::int(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
        Self::int(v)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<IntOrString, E> {
        Self::int(v)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<IntOrString, E> {
        Self::int(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
        Ok(IntOrString::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<IntOrString, E> {
        Ok(IntOrString::String(v))
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntOrStringVisitor)
    }
}

/// OpenAPI: upstream's `int-or-string` format (`x-kubernetes-int-or-string`).
impl schemars::JsonSchema for IntOrString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IntOrString".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "int-or-string",
                                "x-kubernetes-int-or-string": true})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> IntOrString {
        IntOrString::String(text.to_owned())
    }

    #[test]
    fn scaled_value_matches_upstream_cases() {
        // upstream intstr_test.go TestGetIntFromIntOrPercent, plus the brief's 25% of 10.
        let cases = [
            (IntOrString::Int(123), 0, true, 123),
            (IntOrString::Int(123), 10, false, 123),
            (s("90%"), 100, true, 90),
            (s("90%"), 95, true, 86),
            (s("90%"), 95, false, 85),
            (s("25%"), 10, true, 3),
            (s("25%"), 10, false, 2),
            (s("1%"), 2, true, 1),
            (s("1%"), 2, false, 0),
            (s("33%"), 3, true, 1),
            (s("33%"), 3, false, 0),
            (s("34%"), 3, true, 2),
            (s("34%"), 3, false, 1),
            (s("50%"), 5, true, 3),
            (s("50%"), 5, false, 2),
            (s("0%"), 7, true, 0),
            (s("100%"), 7, false, 7),
            (s("200%"), 7, false, 14),
            (s("+10%"), 10, true, 1),
            (s("-25%"), 10, true, -2),
            (s("-25%"), 10, false, -3),
            (s("25%"), -10, true, -2),
            (s("100%"), i32::MAX, true, i32::MAX),
            (s("100%"), i32::MIN, false, i32::MIN),
        ];
        for (value, total, round_up, expected) in cases {
            assert_eq!(
                value.scaled_value(total, round_up),
                Ok(expected),
                "{value} of {total}, round_up {round_up}"
            );
        }
    }

    #[test]
    fn scaled_value_errors_use_upstream_messages() {
        let cases = [
            (
                "90",
                "invalid value for IntOrString: invalid type: string is not a percentage",
            ),
            (
                "90#",
                "invalid value for IntOrString: invalid type: string is not a percentage",
            ),
            (
                "",
                "invalid value for IntOrString: invalid type: string is not a percentage",
            ),
            (
                "%",
                "invalid value for IntOrString: invalid value \"%\": parsing \"\": invalid syntax",
            ),
            (
                "#%",
                "invalid value for IntOrString: invalid value \"#%\": parsing \"#\": invalid syntax",
            ),
            (
                "40%%",
                "invalid value for IntOrString: invalid value \"40%%\": parsing \"40%\": invalid syntax",
            ),
            (
                " 5%",
                "invalid value for IntOrString: invalid value \" 5%\": parsing \" 5\": invalid syntax",
            ),
            (
                "1.5%",
                "invalid value for IntOrString: invalid value \"1.5%\": parsing \"1.5\": invalid syntax",
            ),
            (
                "99999999999999999999%",
                "invalid value for IntOrString: invalid value \"99999999999999999999%\": \
                 parsing \"99999999999999999999\": value out of range",
            ),
            (
                "1000000000%",
                "invalid value for IntOrString: 1000000000% of 1000 is 10000000000, which does \
                 not fit in 32 bits",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                s(text).scaled_value(1000, true),
                Err(message.to_owned()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn serde_reads_numbers_as_int_and_strings_as_string() {
        let parsed: Vec<IntOrString> =
            serde_json::from_str(r#"[80, "http", "80", "25%", -1, 2147483647, -2147483648]"#)
                .unwrap();
        assert_eq!(
            parsed,
            [
                IntOrString::Int(80),
                s("http"),
                s("80"),
                s("25%"),
                IntOrString::Int(-1),
                IntOrString::Int(i32::MAX),
                IntOrString::Int(i32::MIN),
            ]
        );
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"[80,"http","80","25%",-1,2147483647,-2147483648]"#
        );
    }

    #[test]
    fn serde_reads_yaml_scalars() {
        let parsed: Vec<IntOrString> =
            serde_saphyr::from_str("- 8080\n- http\n- \"8080\"\n- 25%\n").unwrap();
        assert_eq!(
            parsed,
            [IntOrString::Int(8080), s("http"), s("8080"), s("25%")]
        );
    }

    #[test]
    fn serde_rejects_integers_past_32_bits_and_other_types() {
        let cases = [
            (
                "2147483648",
                "integer 2147483648 is out of range for IntOrString: it must fit in 32 bits \
                 at line 1 column 10",
            ),
            (
                "-2147483649",
                "integer -2147483649 is out of range for IntOrString: it must fit in 32 bits \
                 at line 1 column 11",
            ),
            (
                "1.5",
                "invalid type: floating point `1.5`, expected an integer or a string \
                 at line 1 column 3",
            ),
            (
                "null",
                "invalid type: null, expected an integer or a string at line 1 column 4",
            ),
        ];
        for (json, message) in cases {
            let error = serde_json::from_str::<IntOrString>(json).unwrap_err();
            assert_eq!(error.to_string(), message, "{json}");
        }
    }

    #[test]
    fn bincode_round_trips_both_variants() {
        let config = bincode::config::standard();
        for value in [IntOrString::Int(-7), s("http"), IntOrString::default()] {
            let bytes = bincode::encode_to_vec(&value, config).unwrap();
            let (decoded, used): (IntOrString, usize) =
                bincode::decode_from_slice(&bytes, config).unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(decoded, value);
        }
    }

    #[test]
    fn displays_the_payload_and_defaults_to_zero() {
        assert_eq!(IntOrString::Int(8080).to_string(), "8080");
        assert_eq!(s("25%").to_string(), "25%");
        assert_eq!(
            format!("{:>5}|{:<5}|", IntOrString::Int(80), s("http")),
            "   80|http |"
        );
        assert_eq!(IntOrString::default(), IntOrString::Int(0));
    }
}
