//! Timestamps as the Kubernetes API writes them: [`Time`] (RFC 3339, whole seconds, `Z`) and
//! [`MicroTime`] (six fractional digits, used by Lease and Event).
//!
//! Both are plain integers since the Unix epoch, so they encode compactly and compare cheaply;
//! the civil-date conversion is done here rather than pulling in a date crate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A timestamp with second precision (upstream `metav1.Time`), e.g. `2024-05-01T12:00:00Z`.
///
/// RFC 3339 text holds years 0000..=9999 only: a timestamp outside them fails to serialize
/// (as Go's `time.Time.MarshalJSON` does) and never decodes from stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, bincode::Encode)]
pub struct Time {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_seconds: i64,
}

/// A timestamp with microsecond precision (upstream `metav1.MicroTime`),
/// e.g. `2024-05-01T12:00:00.123456Z`. Years 0000..=9999 only, as [`Time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, bincode::Encode)]
pub struct MicroTime {
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub unix_micros: i64,
}

/// Earliest and latest years accepted, as RFC 3339 allows (four-digit years).
const YEAR_MIN: i64 = 0;
const YEAR_MAX: i64 = 9999;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z in Unix seconds.
const UNIX_SECONDS_MIN: i64 = -62_167_219_200;
const UNIX_SECONDS_MAX: i64 = 253_402_300_799;

fn in_range(unix_seconds: i64) -> Result<(), String> {
    if (UNIX_SECONDS_MIN..=UNIX_SECONDS_MAX).contains(&unix_seconds) {
        Ok(())
    } else {
        Err(format!(
            "timestamp {unix_seconds} s is outside years {YEAR_MIN:04}..={YEAR_MAX}"
        ))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day in 1..=31");
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month in 1..=12");
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses RFC 3339 (`2024-05-01T12:00:00Z`, `…T12:00:00.5+02:00`) into Unix microseconds.
fn parse_rfc3339_micros(s: &str) -> Result<i64, String> {
    let err = || format!("invalid RFC 3339 timestamp {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(err());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(err());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = s.get(range).ok_or_else(err)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        part.parse::<i64>().map_err(|_| err())
    };
    let year = num(0..4)?;
    let month = u32::try_from(num(5..7)?).map_err(|_| err())?;
    let day = u32::try_from(num(8..10)?).map_err(|_| err())?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if !(YEAR_MIN..=YEAR_MAX).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(err());
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        for (i, c) in frac[..digits].bytes().enumerate() {
            if i < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
        }
        for _ in digits..6 {
            micros *= 10;
        }
        rest = &frac[digits..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let h = rest[1..3].parse::<i64>().map_err(|_| err())?;
            let m = rest[4..6].parse::<i64>().map_err(|_| err())?;
            if h > 23 || m > 59 {
                return Err(err());
            }
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(err()),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Ok(seconds * 1_000_000 + micros)
}

fn fmt_date_time(f: &mut fmt::Formatter<'_>, unix_seconds: i64) -> fmt::Result {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    write!(
        f,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

impl Time {
    /// The timestamp `unix_seconds` after the epoch.
    pub const fn from_unix_seconds(unix_seconds: i64) -> Self {
        Self { unix_seconds }
    }

    /// Parses an RFC 3339 timestamp; fractional seconds are truncated, offsets applied.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(Self {
            unix_seconds: parse_rfc3339_micros(s)?.div_euclid(1_000_000),
        })
    }
}

impl MicroTime {
    /// The timestamp `unix_micros` after the epoch.
    pub const fn from_unix_micros(unix_micros: i64) -> Self {
        Self { unix_micros }
    }

    /// Parses an RFC 3339 timestamp; digits beyond microseconds are truncated.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(Self {
            unix_micros: parse_rfc3339_micros(s)?,
        })
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_date_time(f, self.unix_seconds)?;
        f.write_str("Z")
    }
}

impl fmt::Display for MicroTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_date_time(f, self.unix_micros.div_euclid(1_000_000))?;
        write!(f, ".{:06}Z", self.unix_micros.rem_euclid(1_000_000))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        in_range(self.unix_seconds).map_err(serde::ser::Error::custom)?;
        s.collect_str(self)
    }
}

impl Serialize for MicroTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        in_range(self.unix_micros.div_euclid(1_000_000)).map_err(serde::ser::Error::custom)?;
        s.collect_str(self)
    }
}

macro_rules! decode_in_range {
    ($ty:ident, $field:ident, $to_seconds:expr) => {
        impl<C> bincode::Decode<C> for $ty {
            fn decode<D: bincode::de::Decoder<Context = C>>(
                decoder: &mut D,
            ) -> Result<Self, bincode::error::DecodeError> {
                let $field: i64 = bincode::Decode::decode(decoder)?;
                in_range($to_seconds($field)).map_err(bincode::error::DecodeError::OtherString)?;
                Ok(Self { $field })
            }
        }
        impl<'de, C> bincode::BorrowDecode<'de, C> for $ty {
            fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
                decoder: &mut D,
            ) -> Result<Self, bincode::error::DecodeError> {
                bincode::Decode::decode(decoder)
            }
        }
    };
}
decode_in_range!(Time, unix_seconds, |s: i64| s);
decode_in_range!(MicroTime, unix_micros, |m: i64| m.div_euclid(1_000_000));

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Time::parse(&s).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for MicroTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MicroTime::parse(&s).map_err(de::Error::custom)
    }
}

/// OpenAPI: a string in RFC 3339 form (upstream `date-time`).
impl schemars::JsonSchema for Time {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Time".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}

/// OpenAPI: a string in RFC 3339 form with microseconds (upstream `date-time`).
impl schemars::JsonSchema for MicroTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MicroTime".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_as_upstream() {
        assert_eq!(
            Time::from_unix_seconds(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Time::from_unix_seconds(1_714_564_800).to_string(),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            MicroTime::from_unix_micros(1_714_564_800_123_456).to_string(),
            "2024-05-01T12:00:00.123456Z"
        );
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(
            Time::parse("2024-05-01T14:00:00.999+02:00")
                .unwrap()
                .unix_seconds,
            1_714_564_800
        );
        assert_eq!(
            MicroTime::parse("2024-05-01T12:00:00.1234567Z")
                .unwrap()
                .unix_micros,
            1_714_564_800_123_456
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        assert_eq!(
            Time::parse("2023-02-29T00:00:00Z").unwrap_err(),
            "invalid RFC 3339 timestamp \"2023-02-29T00:00:00Z\""
        );
        assert!(Time::parse("2024-05-01 12:00:00").is_err());
        assert!(Time::parse("2024-05-01T12:00:00+2:00").is_err());
        assert!(Time::parse("２０２４-05-01T12:00:00Z").is_err());
    }

    proptest! {
        #[test]
        fn micro_time_round_trips(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999) {
            let t = MicroTime::from_unix_micros(micros);
            prop_assert_eq!(MicroTime::parse(&t.to_string()).unwrap(), t);
        }
    }
}
