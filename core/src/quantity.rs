//! Resource quantities (`500m`, `1.5`, `1Gi`, `128974848`, `1e3`), exact, with upstream's
//! canonical formatting (`k8s.io/apimachinery/pkg/api/resource`).
//!
//! # Representation
//!
//! A [`Quantity`] is a signed integer count of nano-units (`i128`, the value times 10^9) plus the
//! [`Format`] its text used. Nano is upstream's finest scale, so every value upstream keeps is an
//! integer here, arithmetic and comparison are plain integer operations, and no float is involved.
//!
//! # Guarantees
//!
//! - Exact: a parsed value is the written value, except that a non-zero value finer than 1n is
//!   rounded away from zero to the next nano, as upstream does (`0.9n` → `1n`, `3.001n` → `4n`,
//!   `-0.1n` → `-1n`).
//! - Bounded: the magnitude is at most [`MAGNITUDE_MAX_NANOS`] (10^38 − 1 nano-units, i.e. below
//!   10^29), so a value has at most 29 integer digits and 9 fractional ones. Text beyond that is an
//!   [`QuantityError::OutOfRange`], never a wrapped or clamped value, and [`Quantity::checked_add`]
//!   and [`Quantity::checked_sub`] return `None` instead of leaving the range.
//! - Canonical: [`Display`](fmt::Display) writes upstream's `Quantity.String()` (but for the
//!   departures below), and parsing that text gives back an equal value whose text is the same
//!   again.
//! - Total: no input (text, serde value or bincode bytes) makes anything here panic.
//!
//! # Departures from upstream, on purpose
//!
//! - Upstream keeps decimal values of any size (`inf.Dec`); skiff stops at the bound above.
//! - Upstream silently caps a binary-suffixed value at 2^63 − 1 (`9Ei` parses as
//!   `9223372036854775807`, and `8Ei` does not round-trip: upstream issue #140674). skiff keeps
//!   the exact value under the one bound above, so `9Ei` is `9Ei`.
//! - Upstream's scanner takes a missing number as zero (`.`, `-`, `Ki`, `m` all parse as 0),
//!   although its own grammar and error message require a number. skiff requires at least one
//!   digit.
//! - Upstream's exponent is truncated to 32 bits (`1e4294967296` is `1`); skiff compares the
//!   full 64-bit exponent against the bound.
//! - Binary canonical form past `Ei` keeps the `Ei` suffix (`1024Ei`); upstream would drop the
//!   unknown suffix, but it never gets there because of its cap.
//! - A binary value that is not a whole number of `Ki` is written in decimal SI form: `10000`
//!   with format BinarySI is `10k`. Upstream writes `10000`, which re-parses as DecimalSI and
//!   then writes `10k`, so its canonical text is not always a fixed point; skiff's is. Values
//!   below 1024 and fractions were already written in decimal by upstream.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use bincode::de::Decoder;
use bincode::error::DecodeError;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// upstream `resource.Nano`: the finest scale a value keeps, as a power of ten.
const NANO_EXPONENT: i32 = -9;

/// Nano-units per unit.
const NANOS_PER_UNIT: i128 = 10_i128.pow(NANO_EXPONENT.unsigned_abs());

/// Nano-units per milli-unit, for [`Quantity::milli_value`].
const NANOS_PER_MILLI: i128 = 1_000_000;

/// Decimal digits of [`MAGNITUDE_MAX_NANOS`]: any 38-digit count of nano-units is in range.
const MAGNITUDE_DIGITS_MAX: usize = 38;

/// The largest magnitude of a [`Quantity`], in nano-units: 10^38 − 1, so every value below 10^29
/// with nano precision fits. This is the widest all-nines bound an `i128` holds (i128::MAX ≈
/// 1.7 × 10^38), which also leaves room to add two in-range values without overflowing `i128`
/// before the range check.
pub const MAGNITUDE_MAX_NANOS: i128 = 10_i128.pow(38) - 1;

const _: () = assert!(MAGNITUDE_MAX_NANOS < i128::MAX);
const _: () = assert!(MAGNITUDE_MAX_NANOS.ilog10() + 1 == 38 && MAGNITUDE_DIGITS_MAX == 38);

/// upstream `splitREString`, quoted in [`QuantityError::Syntax`].
const QUANTITY_REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Characters that may start a suffix (upstream `parseQuantityString`).
const SUFFIX_LETTERS: &[u8] = b"eEinumkKMGTP";

/// Binary suffixes by power of 1024, `""` for 1024^0 (upstream `binSuffixes`).
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The highest power of 1024 with a suffix (`Ei`, 2^60).
const BINARY_POWER_MAX: usize = BINARY_SUFFIXES.len() - 1;

/// How a quantity is written, remembered from the text it was parsed from (upstream `Format`).
///
/// The format only affects [`Display`](fmt::Display); two quantities with the same value and
/// different formats are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, bincode::Encode, bincode::Decode)]
pub enum Format {
    /// A decimal exponent: `12e6`, `5e-3`.
    DecimalExponent,
    /// Powers of 1024: `12Mi`, `1Gi`. A value that is not a whole number of `Ki` is written as
    /// [`Format::DecimalSI`] instead (`1536` → `1536`, `10000` → `10k`, `0.5` → `500m`).
    BinarySI,
    /// Powers of 1000: `12M`, `500m`, `3`.
    #[default]
    DecimalSI,
}

/// An exact Kubernetes resource quantity: `500m` CPU, `1Gi` of memory.
///
/// # Equality and order
///
/// `PartialEq`, `Eq`, `Ord` and `Hash` all look at the numeric value only, as upstream
/// `Quantity.Equal` and `Quantity.Cmp` do: `1Gi == 1073741824` although they display
/// differently. Compare [`Quantity::format`] too when the written form matters.
///
/// # Examples
///
/// ```
/// use skiff_core::quantity::Quantity;
///
/// let cpu: Quantity = "1.5".parse().unwrap();
/// assert_eq!(cpu.to_string(), "1500m");
/// assert_eq!(cpu.milli_value(), 1500);
/// assert_eq!(Quantity::parse("0.5Gi").unwrap().to_string(), "512Mi");
/// assert_eq!(Quantity::parse("1Gi").unwrap(), Quantity::parse("1073741824").unwrap());
/// ```
#[derive(Debug, Clone, Default, bincode::Encode)]
pub struct Quantity {
    /// The value times 10^9; the magnitude is at most [`MAGNITUDE_MAX_NANOS`].
    nanos: i128,
    /// How the value was written.
    format: Format,
}

/// Why a text is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The text is not `<sign><digits>[.<digits>]<suffix>` (upstream `ErrFormatWrong`).
    #[error(
        "quantity {input:?} is invalid: quantities must match the regular expression '{QUANTITY_REGEX}'"
    )]
    Syntax {
        /// The text given.
        input: String,
    },
    /// The suffix is not a binary SI, decimal SI or decimal exponent suffix (upstream
    /// `ErrSuffix`).
    #[error("quantity {input:?} is invalid: unable to parse quantity's suffix {suffix:?}")]
    Suffix {
        /// The text given.
        input: String,
        /// The suffix found in it.
        suffix: String,
    },
    /// The value, after rounding to nano, is 10^29 or more in magnitude.
    #[error("quantity {input:?} is out of range: its magnitude must be below 1e29")]
    OutOfRange {
        /// The text given.
        input: String,
    },
}

/// What a suffix multiplies the number by.
#[derive(Debug, Clone, Copy)]
enum Multiplier {
    /// 10^exponent.
    Decimal(i64),
    /// 2^shift.
    Binary(u32),
}

/// upstream `suffixHandler.interpret`: the multiplier and format a suffix stands for.
fn interpret_suffix(suffix: &str) -> Option<(Multiplier, Format)> {
    let decimal = |exponent| Some((Multiplier::Decimal(exponent), Format::DecimalSI));
    let binary = |shift| Some((Multiplier::Binary(shift), Format::BinarySI));
    match suffix {
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            // upstream: `e`/`E` followed by a base-10 int64, sign allowed (strconv.ParseInt).
            let exponent = suffix.strip_prefix(['e', 'E'])?.parse::<i64>().ok()?;
            Some((Multiplier::Decimal(exponent), Format::DecimalExponent))
        }
    }
}

/// The number of leading ASCII digits of `bytes`.
fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// upstream `parseQuantityString`: a suffix is letters from [`SUFFIX_LETTERS`], then an optional
/// sign, then digits, and nothing else.
fn suffix_is_well_formed(suffix: &[u8]) -> bool {
    let letters = suffix
        .iter()
        .take_while(|b| SUFFIX_LETTERS.contains(b))
        .count();
    let mut end = letters;
    if matches!(suffix.get(end), Some(b'+' | b'-')) {
        end += 1;
    }
    end += suffix.get(end..).map_or(0, count_digits);
    end == suffix.len()
}

/// `digits` (ASCII, most significant first) times 2^shift, as ASCII digits.
fn multiply_by_power_of_two(digits: &[u8], shift: u32) -> Vec<u8> {
    assert!(shift <= 60, "binary shift {shift} is above Ei");
    let factor = 1_u128 << shift;
    // Each step keeps `carry < factor`, so `digit * factor + carry < 10 * 2^60` fits a u128.
    let mut reversed = Vec::with_capacity(digits.len() + 19);
    let mut carry = 0_u128;
    for &digit in digits.iter().rev() {
        let product = u128::from(digit - b'0') * factor + carry;
        reversed.push(ascii_digit(product));
        carry = product / 10;
    }
    while carry > 0 {
        reversed.push(ascii_digit(carry));
        carry /= 10;
    }
    reversed.reverse();
    reversed
}

/// The last decimal digit of `value`, in ASCII.
fn ascii_digit(value: u128) -> u8 {
    // `value % 10` is below 10, so the narrowing is exact.
    #[allow(clippy::cast_possible_truncation)]
    let digit = (value % 10) as u8;
    b'0' + digit
}

/// The value of at most [`MAGNITUDE_DIGITS_MAX`] ASCII digits.
fn digits_value(digits: &[u8]) -> u128 {
    assert!(
        digits.len() <= MAGNITUDE_DIGITS_MAX,
        "{} digits overflow",
        digits.len()
    );
    digits
        .iter()
        .fold(0, |value, &digit| value * 10 + u128::from(digit - b'0'))
}

/// `digits` (ASCII, no leading zero, not all zero) times 10^shift, rounded away from zero to a
/// whole number (upstream `inf.RoundUp` at `Nano`), or `None` above [`MAGNITUDE_MAX_NANOS`].
fn scale_digits(digits: &[u8], shift: i128) -> Option<u128> {
    debug_assert!(
        digits.first().is_some_and(|&d| d != b'0'),
        "leading zero in {digits:?}"
    );
    let len = i128::try_from(digits.len()).ok()?;
    let max = MAGNITUDE_MAX_NANOS.unsigned_abs();
    if shift >= 0 {
        // With no leading zero the value is at least 10^(len - 1), so more than 38 digits in
        // all is at least 10^38: out of range.
        if len + shift > i128::try_from(MAGNITUDE_DIGITS_MAX).ok()? {
            return None;
        }
        let shift = u32::try_from(shift).ok()?;
        Some(digits_value(digits) * 10_u128.pow(shift))
    } else {
        let dropped = shift.unsigned_abs();
        let Ok(kept) = usize::try_from(len.unsigned_abs().saturating_sub(dropped)) else {
            return None;
        };
        if kept == 0 {
            // Every digit is below one nano and at least one is non-zero: round up to 1n.
            return Some(1);
        }
        if kept > MAGNITUDE_DIGITS_MAX {
            return None;
        }
        let (whole, fraction) = digits.split_at(kept);
        let rounded = digits_value(whole) + u128::from(fraction.iter().any(|&d| d != b'0'));
        (rounded <= max).then_some(rounded)
    }
}

impl Quantity {
    /// Parses upstream's quantity syntax: `<sign><number><suffix>` where the number is
    /// `<digits>`, `<digits>.<digits>`, `<digits>.` or `.<digits>`, and the suffix is binary SI
    /// (`Ki Mi Gi Ti Pi Ei`), decimal SI (`n u m k M G T P E` or none) or a decimal exponent
    /// (`e3`, `E-2`, `e+6`). No whitespace is allowed (serde trims it first, as upstream's JSON
    /// decoding does).
    ///
    /// # Errors
    ///
    /// [`QuantityError::Syntax`] for text of the wrong shape, [`QuantityError::Suffix`] for an
    /// unknown suffix, [`QuantityError::OutOfRange`] for a magnitude of 10^29 or more.
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        let syntax = || QuantityError::Syntax {
            input: input.to_owned(),
        };
        let bytes = input.as_bytes();
        let (negative, unsigned) = match bytes.split_first() {
            None => return Err(syntax()),
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            Some(_) => (false, bytes),
        };
        let (whole, rest) = unsigned.split_at(count_digits(unsigned));
        let (fraction, suffix) = match rest.split_first() {
            Some((b'.', after)) => after.split_at(count_digits(after)),
            _ => (&rest[..0], rest),
        };
        // Departure: upstream reads a missing number as 0; its grammar requires one.
        if whole.is_empty() && fraction.is_empty() {
            return Err(syntax());
        }
        if !suffix_is_well_formed(suffix) {
            return Err(syntax());
        }
        // Only ASCII letters, signs and digits are left, so this cannot fail.
        let suffix = std::str::from_utf8(suffix).map_err(|_| syntax())?;
        let (multiplier, format) =
            interpret_suffix(suffix).ok_or_else(|| QuantityError::Suffix {
                input: input.to_owned(),
                suffix: suffix.to_owned(),
            })?;

        let mut digits: Vec<u8> = whole
            .iter()
            .chain(fraction)
            .copied()
            .skip_while(|&d| d == b'0')
            .collect();
        if digits.is_empty() {
            // Zero keeps the format it was written in (`0Ki` is BinarySI), as upstream.
            return Ok(Quantity { nanos: 0, format });
        }
        let out_of_range = || QuantityError::OutOfRange {
            input: input.to_owned(),
        };
        let fraction_len = i128::try_from(fraction.len()).map_err(|_| out_of_range())?;
        // The number of nano-units is `digits * 10^shift` (times 2^power for a binary suffix).
        let shift = match multiplier {
            Multiplier::Decimal(exponent) => {
                i128::from(exponent) - i128::from(NANO_EXPONENT) - fraction_len
            }
            Multiplier::Binary(power) => {
                digits = multiply_by_power_of_two(&digits, power);
                -i128::from(NANO_EXPONENT) - fraction_len
            }
        };
        let magnitude = scale_digits(&digits, shift).ok_or_else(out_of_range)?;
        let magnitude = i128::try_from(magnitude).map_err(|_| out_of_range())?;
        // upstream: a binary value strictly between -1 and 1 becomes DecimalSI.
        let format = if format == Format::BinarySI && magnitude < NANOS_PER_UNIT {
            Format::DecimalSI
        } else {
            format
        };
        let nanos = if negative { -magnitude } else { magnitude };
        Quantity::from_nanos(nanos, format).ok_or_else(out_of_range)
    }

    /// `value` whole units in `format`, like upstream `NewQuantity`: `new(1024, BinarySI)` is
    /// `1Ki`, `new(1000, DecimalSI)` is `1k`.
    pub fn new(value: i64, format: Format) -> Quantity {
        Quantity {
            nanos: i128::from(value) * NANOS_PER_UNIT,
            format,
        }
    }

    /// `milli` thousandths of a unit in [`Format::DecimalSI`], like upstream
    /// `NewMilliQuantity(milli, DecimalSI)`: `from_milli(1500)` is `1500m`.
    pub fn from_milli(milli: i64) -> Quantity {
        Quantity {
            nanos: i128::from(milli) * NANOS_PER_MILLI,
            format: Format::DecimalSI,
        }
    }

    /// A byte count in [`Format::BinarySI`]: `from_bytes(1 << 30)` is `1Gi`, and a count that is
    /// not a multiple of 1024 is written in plain digits.
    pub fn from_bytes(bytes: u64) -> Quantity {
        Quantity {
            nanos: i128::from(bytes) * NANOS_PER_UNIT,
            format: Format::BinarySI,
        }
    }

    /// The same value written in `format` (upstream lets callers set `Quantity.Format`).
    #[must_use]
    pub fn with_format(self, format: Format) -> Quantity {
        Quantity { format, ..self }
    }

    /// `nanos` nano-units in `format`, or `None` past [`MAGNITUDE_MAX_NANOS`].
    fn from_nanos(nanos: i128, format: Format) -> Option<Quantity> {
        (nanos.unsigned_abs() <= MAGNITUDE_MAX_NANOS.unsigned_abs())
            .then_some(Quantity { nanos, format })
    }

    /// The format the value is written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The value in whole units, rounded away from zero (upstream `Value`): `1.5` gives 2,
    /// `-1.5` gives -2, `1n` gives 1. Saturates at `i64::MAX`/`i64::MIN`, where upstream
    /// overflows.
    pub fn value(&self) -> i64 {
        self.scaled(NANOS_PER_UNIT)
    }

    /// The value in thousandths, rounded away from zero (upstream `MilliValue`): `1.5` gives
    /// 1500, `1n` gives 1. Saturates at `i64::MAX`/`i64::MIN`, where upstream overflows.
    pub fn milli_value(&self) -> i64 {
        self.scaled(NANOS_PER_MILLI)
    }

    /// `self / per` nano-units, rounded away from zero, saturated to `i64`.
    fn scaled(&self, per: i128) -> i64 {
        let quotient = self.nanos / per;
        let rounded = if self.nanos % per == 0 {
            quotient
        } else {
            quotient + self.nanos.signum()
        };
        i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
    }

    /// `self + other`, or `None` past the range. The result keeps `self`'s format, or takes
    /// `other`'s when `self` is zero (upstream `Add`).
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_add(other.nanos)?;
        Quantity::from_nanos(nanos, self.combined_format(other))
    }

    /// `self - other`, or `None` past the range. The result keeps `self`'s format, or takes
    /// `other`'s when `self` is zero (upstream `Sub`).
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_sub(other.nanos)?;
        Quantity::from_nanos(nanos, self.combined_format(other))
    }

    fn combined_format(&self, other: &Quantity) -> Format {
        if self.is_zero() {
            other.format
        } else {
            self.format
        }
    }

    /// upstream `CanonicalizeBytes`: the format actually used to write the value.
    fn display_format(&self) -> Format {
        let magnitude = self.nanos.unsigned_abs();
        let unit = NANOS_PER_UNIT.unsigned_abs();
        match self.format {
            // upstream: below 1024 no binary suffix applies, and a fraction would be lost.
            // Departure: any other value that is not a whole number of Ki is also written in
            // decimal, where upstream writes plain digits (`10000`) that re-parse as DecimalSI
            // and then print differently (`10k`). This keeps canonical text a fixed point.
            Format::BinarySI if !magnitude.is_multiple_of(1024 * unit) => Format::DecimalSI,
            format => format,
        }
    }
}

/// upstream `AsCanonicalBytes`: `magnitude` nano-units as the mantissa and decimal exponent with
/// no fractional digits and the exponent the largest multiple of 3.
fn decimal_canonical(magnitude: u128) -> (u128, i32) {
    assert!(magnitude != 0, "zero has no canonical mantissa");
    let mut mantissa = magnitude;
    let mut exponent = NANO_EXPONENT;
    // Bounded by the digit count: a non-zero value below 10^38 has at most 37 trailing zeros.
    while mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent += 1;
    }
    let down = exponent.rem_euclid(3);
    // `mantissa * 10^down` is at most the magnitude, because `exponent - down >= -9`.
    mantissa *= 10_u128.pow(down.unsigned_abs());
    (mantissa, exponent - down)
}

/// upstream `decSuffixes`; exponents past `E` have no suffix.
fn decimal_si_suffix(exponent: i32) -> Option<&'static str> {
    Some(match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.pad("0");
        }
        let mut text = String::with_capacity(48);
        if self.nanos < 0 {
            text.push('-');
        }
        let magnitude = self.nanos.unsigned_abs();
        match self.display_format() {
            Format::BinarySI => {
                let mut units = magnitude / NANOS_PER_UNIT.unsigned_abs();
                let mut power = 0;
                while power < BINARY_POWER_MAX && units.is_multiple_of(1024) {
                    units /= 1024;
                    power += 1;
                }
                write!(text, "{units}{}", BINARY_SUFFIXES[power])?;
            }
            format @ (Format::DecimalSI | Format::DecimalExponent) => {
                let (mantissa, exponent) = decimal_canonical(magnitude);
                write!(text, "{mantissa}")?;
                match (format, decimal_si_suffix(exponent)) {
                    (Format::DecimalSI, Some(suffix)) => text.push_str(suffix),
                    (_, _) if exponent == 0 => {}
                    // upstream: DecimalSI has no suffix past `E`, so it falls back to an
                    // exponent rather than dropping the magnitude (`1000E` is `1e21`).
                    (_, _) => write!(text, "e{exponent}")?,
                }
            }
        }
        f.pad(&text)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads a quantity from a string, an integer, a float or null.
struct QuantityVisitor;

impl QuantityVisitor {
    fn parse<E: de::Error>(text: &str) -> Result<Quantity, E> {
        Quantity::parse(text).map_err(E::custom)
    }
}

impl de::Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity such as \"500m\" or \"1Gi\", or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        // upstream UnmarshalJSON trims surrounding whitespace before parsing.
        Self::parse(v.trim())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("quantity {v} is not a finite number")));
        }
        // `{}` writes the shortest text that reads back as the same f64, never in exponent
        // form, so `0.1` stays `0.1` rather than its binary expansion.
        Self::parse(&format!("{v}"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Quantity, E> {
        // upstream UnmarshalJSON: `null` is the zero quantity.
        Ok(Quantity::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Quantity, E> {
        self.visit_unit()
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor)
    }
}

impl<Context> bincode::Decode<Context> for Quantity {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let nanos: i128 = bincode::Decode::decode(decoder)?;
        let format: Format = bincode::Decode::decode(decoder)?;
        Quantity::from_nanos(nanos, format)
            .ok_or(DecodeError::Other("quantity magnitude is 1e29 or more"))
    }
}

bincode::impl_borrow_decode!(Quantity);

/// Fuzz target body: parse arbitrary bytes as text and as bincode, and check that whatever is
/// accepted formats canonically, round-trips, and encodes stably.
///
/// # Panics
///
/// When one of those invariants breaks; any input that panics is a bug.
pub fn fuzz_parse(data: &[u8]) {
    let config = bincode::config::standard();
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(quantity) = Quantity::parse(text)
    {
        let canonical = quantity.to_string();
        let again = Quantity::parse(&canonical)
            .unwrap_or_else(|e| panic!("canonical {canonical:?} of {text:?} does not parse: {e}"));
        assert_eq!(
            again, quantity,
            "{text:?} changed value through {canonical:?}"
        );
        assert_eq!(
            again.to_string(),
            canonical,
            "{text:?}: canonical form is not stable"
        );
        let bytes = bincode::encode_to_vec(&quantity, config).expect("encoding to a Vec");
        let (decoded, _): (Quantity, usize) =
            bincode::decode_from_slice(&bytes, config).expect("decoding what was encoded");
        assert_eq!(
            decoded.format, quantity.format,
            "{text:?}: format lost in bincode"
        );
        assert_eq!(
            decoded.nanos, quantity.nanos,
            "{text:?}: value lost in bincode"
        );
    }
    if let Ok((decoded, _)) = bincode::decode_from_slice::<Quantity, _>(data, config) {
        let canonical = decoded.to_string();
        assert_eq!(Quantity::parse(&canonical).ok(), Some(decoded.clone()));
        let bytes = bincode::encode_to_vec(&decoded, config).expect("encoding to a Vec");
        let (again, _): (Quantity, usize) =
            bincode::decode_from_slice(&bytes, config).expect("decoding what was encoded");
        assert_eq!(
            bincode::encode_to_vec(&again, config).expect("encoding to a Vec"),
            bytes,
            "bincode encoding of {canonical:?} is not stable"
        );
    }
}

/// OpenAPI: a string (upstream's `quantity` format; numbers are accepted too).
impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "quantity"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// upstream quantity_test.go TestQuantityParse, TestQuantityString and
    /// TestQuantityParseEmit: input, canonical output, remembered format.
    const PARSE_CASES: &[(&str, &str, Format)] = &[
        ("0", "0", Format::DecimalSI),
        ("0n", "0", Format::DecimalSI),
        ("0u", "0", Format::DecimalSI),
        ("0m", "0", Format::DecimalSI),
        ("0Ki", "0", Format::BinarySI),
        ("0k", "0", Format::DecimalSI),
        ("0Mi", "0", Format::BinarySI),
        ("0M", "0", Format::DecimalSI),
        ("0Gi", "0", Format::BinarySI),
        ("0G", "0", Format::DecimalSI),
        ("0Ti", "0", Format::BinarySI),
        ("0T", "0", Format::DecimalSI),
        ("00", "0", Format::DecimalSI),
        ("1", "1", Format::DecimalSI),
        // Binary suffixes.
        ("1Ki", "1Ki", Format::BinarySI),
        ("8Ki", "8Ki", Format::BinarySI),
        ("7Mi", "7Mi", Format::BinarySI),
        ("6Gi", "6Gi", Format::BinarySI),
        ("5Ti", "5Ti", Format::BinarySI),
        ("4Pi", "4Pi", Format::BinarySI),
        ("3Ei", "3Ei", Format::BinarySI),
        ("10Ti", "10Ti", Format::BinarySI),
        ("100Ti", "100Ti", Format::BinarySI),
        ("1024Mi", "1Gi", Format::BinarySI),
        ("307200Ki", "300Mi", Format::BinarySI),
        ("1025024Mi", "1001Gi", Format::BinarySI),
        ("1024Gi", "1Ti", Format::BinarySI),
        // Decimal suffixes.
        ("5n", "5n", Format::DecimalSI),
        ("4u", "4u", Format::DecimalSI),
        ("3m", "3m", Format::DecimalSI),
        ("100m", "100m", Format::DecimalSI),
        ("1500m", "1500m", Format::DecimalSI),
        ("9", "9", Format::DecimalSI),
        ("8k", "8k", Format::DecimalSI),
        ("50k", "50k", Format::DecimalSI),
        ("7M", "7M", Format::DecimalSI),
        ("6G", "6G", Format::DecimalSI),
        ("5T", "5T", Format::DecimalSI),
        ("40T", "40T", Format::DecimalSI),
        ("300T", "300T", Format::DecimalSI),
        ("2P", "2P", Format::DecimalSI),
        ("1E", "1E", Format::DecimalSI),
        ("12E", "12E", Format::DecimalSI),
        ("1000M", "1G", Format::DecimalSI),
        ("0.001T", "1G", Format::DecimalSI),
        ("1000u", "1m", Format::DecimalSI),
        ("5000m", "5", Format::DecimalSI),
        ("1080000000n", "1080m", Format::DecimalSI),
        ("1234567M", "1234567M", Format::DecimalSI),
        ("128974848", "128974848", Format::DecimalSI),
        // Decimal exponents.
        ("1E-3", "1e-3", Format::DecimalExponent),
        ("1e3", "1e3", Format::DecimalExponent),
        ("1E6", "1e6", Format::DecimalExponent),
        ("1e9", "1e9", Format::DecimalExponent),
        ("1E12", "1e12", Format::DecimalExponent),
        ("1e15", "1e15", Format::DecimalExponent),
        ("1E18", "1e18", Format::DecimalExponent),
        ("1e14", "100e12", Format::DecimalExponent),
        ("1e13", "10e12", Format::DecimalExponent),
        ("80e-3", "80e-3", Format::DecimalExponent),
        ("300e6", "300e6", Format::DecimalExponent),
        (".001e12", "1e9", Format::DecimalExponent),
        ("0.001e0", "1e-3", Format::DecimalExponent),
        ("1000e-12", "1e-9", Format::DecimalExponent),
        ("100.035k", "100035", Format::DecimalSI),
        // Things that look like floating point.
        ("0.001", "1m", Format::DecimalSI),
        ("0.0005k", "500m", Format::DecimalSI),
        ("0.005", "5m", Format::DecimalSI),
        ("0.05", "50m", Format::DecimalSI),
        ("0.5", "500m", Format::DecimalSI),
        ("1.5", "1500m", Format::DecimalSI),
        ("0.00050k", "500m", Format::DecimalSI),
        ("0.00500", "5m", Format::DecimalSI),
        ("0.05000", "50m", Format::DecimalSI),
        ("0.50000", "500m", Format::DecimalSI),
        ("0.5e0", "500e-3", Format::DecimalExponent),
        ("0.5e-1", "50e-3", Format::DecimalExponent),
        ("0.5e-2", "5e-3", Format::DecimalExponent),
        ("10.035M", "10035k", Format::DecimalSI),
        ("1.2e3", "1200", Format::DecimalExponent),
        ("1.3E+6", "1300e3", Format::DecimalExponent),
        ("1.40e9", "1400e6", Format::DecimalExponent),
        ("1.53E12", "1530e9", Format::DecimalExponent),
        ("1.6e15", "1600e12", Format::DecimalExponent),
        ("1.7E18", "1700e15", Format::DecimalExponent),
        ("9.01", "9010m", Format::DecimalSI),
        ("1.08", "1080m", Format::DecimalSI),
        ("8.1k", "8100", Format::DecimalSI),
        ("7.123456M", "7123456", Format::DecimalSI),
        ("6.987654321G", "6987654321", Format::DecimalSI),
        ("5.444T", "5444G", Format::DecimalSI),
        ("40.1T", "40100G", Format::DecimalSI),
        ("300.2T", "300200G", Format::DecimalSI),
        ("2.5P", "2500T", Format::DecimalSI),
        ("1.01E", "1010P", Format::DecimalSI),
        // Things that round up to nano.
        ("3.001n", "4n", Format::DecimalSI),
        ("1.1E-9", "2e-9", Format::DecimalExponent),
        ("0.0000000001", "1n", Format::DecimalSI),
        ("0.0000000005", "1n", Format::DecimalSI),
        ("0.00000000050", "1n", Format::DecimalSI),
        ("0.5e-9", "1e-9", Format::DecimalExponent),
        ("0.9n", "1n", Format::DecimalSI),
        ("0.00000012345", "124n", Format::DecimalSI),
        ("0.00000012354", "124n", Format::DecimalSI),
        // Fractional binary values; non-integers are written in decimal.
        ("100.035Ki", "102435840m", Format::BinarySI),
        ("0.5Mi", "512Ki", Format::BinarySI),
        ("0.5Gi", "512Mi", Format::BinarySI),
        ("0.05Gi", "53687091200m", Format::BinarySI),
        ("0.025Ti", "27487790694400m", Format::BinarySI),
        (".001Ki", "1024m", Format::BinarySI),
        // Below 1 the binary format is dropped at parse time (upstream).
        (".000001Ki", "1024u", Format::DecimalSI),
        (".000000001Ki", "1024n", Format::DecimalSI),
        (".000000000001Ki", "2n", Format::DecimalSI),
        ("0.000000000001Ki", "2n", Format::DecimalSI),
        // Things written by trolls.
        (".001", "1m", Format::DecimalSI),
        (".0001k", "100m", Format::DecimalSI),
        ("1.", "1", Format::DecimalSI),
        ("1.G", "1G", Format::DecimalSI),
        ("+1.5", "1500m", Format::DecimalSI),
        ("-0", "0", Format::DecimalSI),
        (
            "000000000000000000000000000000000000000000001",
            "1",
            Format::DecimalSI,
        ),
        // DecimalSI has no suffix past E, so canonical text falls back to an exponent.
        ("1000E", "1e21", Format::DecimalSI),
        ("5000E", "5e21", Format::DecimalSI),
        ("1000000E", "1e24", Format::DecimalSI),
    ];

    #[test]
    fn parses_upstream_cases_to_canonical_text() {
        for &(input, canonical, format) in PARSE_CASES {
            let parsed = q(input);
            assert_eq!(parsed.to_string(), canonical, "{input:?}");
            assert_eq!(parsed.format(), format, "{input:?}");
            assert_eq!(q(canonical), parsed, "{input:?} via {canonical:?}");
            assert_eq!(
                q(canonical).to_string(),
                canonical,
                "{input:?} via {canonical:?}"
            );
        }
    }

    #[test]
    fn negative_values_format_with_a_leading_minus() {
        for &(input, canonical, format) in PARSE_CASES {
            let input = input.trim_start_matches(['+', '-']);
            let negated = q(&format!("-{input}"));
            assert_eq!(negated.format(), format, "-{input}");
            if canonical == "0" {
                assert_eq!(negated.to_string(), "0", "-{input}: no negative zero");
            } else {
                assert_eq!(negated.to_string(), format!("-{canonical}"), "-{input}");
                assert!(negated < Quantity::default(), "-{input}");
            }
        }
    }

    #[test]
    fn binary_values_keep_their_exact_value_past_upstreams_int64_cap() {
        // upstream caps these at 2^63-1 silently (issue #140674); skiff keeps them exact.
        assert_eq!(q("9Ei").to_string(), "9Ei");
        assert_eq!(q("8Ei").value(), i64::MAX, "value() saturates");
        assert_eq!(
            q("9223372036854775807Ki").to_string(),
            "9223372036854775807Ki"
        );
        assert_eq!(q("1024Ei").to_string(), "1024Ei", "no suffix past Ei");
        assert_eq!(q("1048576Ei").to_string(), "1048576Ei");
    }

    #[test]
    fn range_ends_at_1e29_exclusive() {
        let max = "99999999999999999999999999999.999999999";
        assert_eq!(
            q(max).to_string(),
            "99999999999999999999999999999999999999n"
        );
        assert_eq!(q(&format!("-{max}")).nanos, -MAGNITUDE_MAX_NANOS);
        assert_eq!(
            q("99999999999999999999999999999").to_string(),
            "99999999999999999999999999999"
        );
        assert_eq!(
            q("99999999999999999999999999999.999999999e0").format(),
            Format::DecimalExponent
        );
        assert_eq!(q("1e28").to_string(), "10e27");
        assert_eq!(q("9e28").to_string(), "90e27");
        assert_eq!(q("99E").to_string(), "99E");
        assert_eq!(
            q("1e-99999999999").to_string(),
            "1e-9",
            "rounds up, never to zero"
        );
        assert_eq!(q("0e99999999999").to_string(), "0", "zero at any exponent");
        let zeros = format!("0.{}1", "0".repeat(100_000));
        assert_eq!(q(&zeros).to_string(), "1n");
        for input in [
            "100000000000000000000000000000",
            "99999999999999999999999999999.9999999991",
            "1e29",
            "-1e29",
            "100000000000E",
            "86736173799Ei", // just above 1e29 / 2^60
            "1e9223372036854775807",
            &format!("1{}", "0".repeat(100_000)),
        ] {
            let expected = QuantityError::OutOfRange {
                input: input.to_owned(),
            };
            assert_eq!(Quantity::parse(input), Err(expected), "{input:.40}");
        }
        assert_eq!(q("86736173798Ei").to_string(), "86736173798Ei");
    }

    #[test]
    fn rejects_malformed_text_with_upstream_messages() {
        let cases = [
            (
                "",
                "quantity \"\" is invalid: quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
            (
                "1.1.M",
                "quantity \"1.1.M\" is invalid: quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
            (
                "0.1mi",
                "quantity \"0.1mi\" is invalid: unable to parse quantity's suffix \"mi\"",
            ),
            (
                "-3.01e-",
                "quantity \"-3.01e-\" is invalid: unable to parse quantity's suffix \"e-\"",
            ),
            (
                "1e30",
                "quantity \"1e30\" is out of range: its magnitude must be below 1e29",
            ),
        ];
        for (input, message) in cases {
            let error = Quantity::parse(input).expect_err(input);
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn rejects_upstream_invalid_inputs() {
        let syntax = [
            "", "1.1.M", "1+1.0M", "0.1am", "aoeu", " 1", "1 ", "1Gi ", "1,5", "--1", "1e3.5",
            "1Mi5Ki", "1KI", "٣", "1\u{0}",
            // Departures: upstream reads a missing number as 0.
            ".", "-", "+", "-.", "Ki", "m", "e3",
        ];
        for input in syntax {
            assert_eq!(
                Quantity::parse(input),
                Err(QuantityError::Syntax {
                    input: input.to_owned()
                }),
                "{input:?}"
            );
        }
        let suffix = [
            ("0.1mi", "mi"),
            (".5i", "i"),
            ("1i", "i"),
            ("-3.01i", "i"),
            ("-3.01e-", "e-"),
            ("1e", "e"),
            ("1e+", "e+"),
            ("1ee3", "ee3"),
            ("1ki", "ki"),
            ("1K", "K"),
            ("1k3", "k3"),
            ("1Mi5", "Mi5"),
            ("1-3", "-3"),
            ("1e99999999999999999999", "e99999999999999999999"),
        ];
        for (input, found) in suffix {
            assert_eq!(
                Quantity::parse(input),
                Err(QuantityError::Suffix {
                    input: input.to_owned(),
                    suffix: found.to_owned()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn constructors_match_upstream_new_quantity() {
        // upstream TestNewSet, TestMilliNewSet.
        let cases = [
            (Quantity::new(1, Format::DecimalSI), "1"),
            (Quantity::new(1000, Format::DecimalSI), "1k"),
            (Quantity::new(1_234_000, Format::DecimalSI), "1234k"),
            (Quantity::new(1024, Format::BinarySI), "1Ki"),
            (Quantity::new(1_000_000, Format::DecimalExponent), "1e6"),
            (Quantity::new(1024 * 1024, Format::BinarySI), "1Mi"),
            (Quantity::new(i64::MIN, Format::BinarySI), "-8Ei"),
            (Quantity::from_milli(1), "1m"),
            (Quantity::from_milli(1000), "1"),
            (Quantity::from_milli(1_234_000), "1234"),
            (
                Quantity::from_milli(1024).with_format(Format::BinarySI),
                "1024m",
            ),
            (
                Quantity::from_milli(1024 * 1024).with_format(Format::BinarySI),
                "1048576m",
            ),
            (
                Quantity::from_milli(1_000_000).with_format(Format::DecimalExponent),
                "1e3",
            ),
            (Quantity::from_bytes(128_974_848), "123Mi"),
            (Quantity::from_bytes(1 << 30), "1Gi"),
            (Quantity::from_bytes(1025), "1025"),
            (Quantity::from_bytes(1536), "1536"),
            // Departure: upstream writes these as `10000` and `3000000000`.
            (Quantity::from_bytes(10_000), "10k"),
            (Quantity::from_bytes(3_000_000_000), "3G"),
            (Quantity::from_bytes(1000), "1k"),
            (Quantity::from_bytes(u64::MAX), "18446744073709551615"),
            (Quantity::from_bytes(0), "0"),
            (Quantity::default(), "0"),
        ];
        for (quantity, text) in cases {
            assert_eq!(quantity.to_string(), text);
            assert_eq!(q(text), quantity, "{text}");
        }
        assert_eq!(Quantity::default().format(), Format::DecimalSI);
        assert_eq!(Quantity::default(), q("0"));
        assert!(Quantity::default().is_zero());
    }

    #[test]
    fn display_honours_width_and_alignment() {
        assert_eq!(format!("{:>6}|{:<4}|", q("500m"), q("0")), "  500m|0   |");
    }

    #[test]
    fn value_and_milli_value_round_away_from_zero() {
        let cases = [
            ("0", 0, 0),
            ("1", 1, 1000),
            ("1.5", 2, 1500),
            ("-1.5", -2, -1500),
            ("1n", 1, 1),
            ("-1n", -1, -1),
            ("999m", 1, 999),
            ("1001m", 2, 1001),
            ("1.0001", 2, 1001),
            ("1Ki", 1024, 1_024_000),
            ("9223372036854775807", i64::MAX, i64::MAX),
            ("-9223372036854775808", i64::MIN, i64::MIN),
            ("9223372036854775.807", 9_223_372_036_854_776, i64::MAX),
            ("1e28", i64::MAX, i64::MAX),
            ("-1e28", i64::MIN, i64::MIN),
        ];
        for (input, value, milli) in cases {
            assert_eq!(q(input).value(), value, "{input}");
            assert_eq!(q(input).milli_value(), milli, "{input}");
        }
    }

    #[test]
    fn equality_and_order_ignore_format() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |quantity: &Quantity| {
            let mut hasher = DefaultHasher::new();
            quantity.hash(&mut hasher);
            hasher.finish()
        };
        let binary = q("1Gi");
        let decimal = q("1073741824");
        assert_eq!(binary, decimal);
        assert_eq!(binary.cmp(&decimal), Ordering::Equal);
        assert_eq!(hash(&binary), hash(&decimal));
        assert_ne!(binary.format(), decimal.format());
        assert_ne!(binary.to_string(), decimal.to_string());
        // upstream TestQuantityCmp.
        assert_eq!(q("0").cmp(&q("0")), Ordering::Equal);
        assert_eq!(q("100m").cmp(&q("50m")), Ordering::Greater);
        assert_eq!(q("50m").cmp(&q("100m")), Ordering::Less);
        assert_eq!(q("10000T").cmp(&q("100Gi")), Ordering::Greater);
        assert_eq!(q("1k").cmp(&q("1Ki")), Ordering::Less);
        assert_eq!(q("-1Ki").cmp(&q("-1k")), Ordering::Less);
    }

    #[test]
    fn checked_arithmetic_keeps_the_receivers_format_unless_zero() {
        // upstream TestAdd, TestSub, TestQuantityAddZeroPreservesSuffix.
        let sum = |a: &str, b: &str| q(a).checked_add(&q(b)).unwrap().to_string();
        let difference = |a: &str, b: &str| q(a).checked_sub(&q(b)).unwrap().to_string();
        assert_eq!(sum("10", "1e1"), "20");
        assert_eq!(sum("1Gi", "1Gi"), "2Gi");
        assert_eq!(sum("0", "1Gi"), "1Gi");
        assert_eq!(sum("1Gi", "0"), "1Gi");
        assert_eq!(sum("0", "100m"), "100m");
        assert_eq!(sum("100m", "1Gi"), "1073741824100m");
        assert_eq!(sum("1Gi", "100m"), "1073741824100m");
        assert_eq!(sum("1Gi", "1Mi"), "1025Mi");
        assert_eq!(sum("1.5", "-1.5"), "0");
        assert_eq!(difference("10", "1e1"), "0");
        assert_eq!(difference("10", "1"), "9");
        assert_eq!(difference("0", "1Gi"), "-1Gi");
        assert_eq!(difference("0", "50"), "-50");
        assert_eq!(difference("1Gi", "512Mi"), "512Mi");
        assert_eq!(difference("1", "1n"), "999999999n");
        let max = q("99999999999999999999999999999.999999999");
        assert_eq!(max.checked_add(&q("1n")), None);
        assert_eq!(max.checked_sub(&q("-1n")), None);
        assert_eq!(q(&format!("-{max}")).checked_sub(&max), None);
        assert_eq!(max.checked_sub(&max), Some(Quantity::default()));
        assert_eq!(
            max.checked_add(&q("-1n")).unwrap().to_string(),
            "99999999999999999999999999999999999998n"
        );
    }

    #[test]
    fn serde_reads_strings_integers_floats_and_null() {
        let json = r#"{"a":"500m","b":1,"c":0.5,"d":128974848,"e":" 1 ","f":-1,"g":null,
            "h":1e3,"i":0.1,"j":18446744073709551615,"k":"1Gi","l":1e-300}"#;
        let parsed: std::collections::BTreeMap<String, Quantity> =
            serde_json::from_str(json).unwrap();
        let shown: Vec<String> = parsed.values().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "500m",
                "1",
                "500m",
                "128974848",
                "1",
                "-1",
                "0",
                // A JSON float loses upstream's DecimalExponent format: serde gives an f64.
                "1k",
                "100m",
                "18446744073709551615",
                "1Gi",
                "1n",
            ]
        );
        assert_eq!(serde_json::to_string(&parsed["k"]).unwrap(), r#""1Gi""#);
        assert_eq!(serde_json::to_string(&q("1.5")).unwrap(), r#""1500m""#);
    }

    #[test]
    fn serde_reads_yaml_scalars() {
        let yaml = "cpu: 1\nmemory: 128974848\nhalf: 0.5\nstorage: 1Gi\nmilli: 250m\nexp: 1e3\n";
        let parsed: std::collections::BTreeMap<String, Quantity> =
            serde_saphyr::from_str(yaml).unwrap();
        let shown: std::collections::BTreeMap<&str, String> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect();
        assert_eq!(shown["cpu"], "1");
        assert_eq!(shown["memory"], "128974848");
        assert_eq!(shown["half"], "500m");
        assert_eq!(shown["storage"], "1Gi");
        assert_eq!(shown["milli"], "250m");
        assert_eq!(q(&shown["exp"]), q("1e3"));
    }

    #[test]
    fn serde_errors_name_the_value() {
        let error = serde_json::from_str::<Quantity>(r#""1.1.M""#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "quantity \"1.1.M\" is invalid: quantities must match the regular expression \
             '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' at line 1 column 7"
        );
        let error = serde_json::from_str::<Quantity>("1e300").unwrap_err();
        assert!(
            error.to_string().starts_with("quantity \"1000000000000"),
            "{error}"
        );
        assert!(error.to_string().contains("is out of range"), "{error}");
        let error = serde_json::from_str::<Quantity>("true").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid type: boolean `true`, expected a quantity such as \"500m\" or \"1Gi\", \
             or a number at line 1 column 4"
        );
    }

    #[test]
    fn bincode_round_trips_value_and_format() {
        let config = bincode::config::standard();
        for &(input, _, _) in PARSE_CASES {
            let quantity = q(input);
            let bytes = bincode::encode_to_vec(&quantity, config).unwrap();
            let (decoded, used): (Quantity, usize) =
                bincode::decode_from_slice(&bytes, config).unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(decoded.to_string(), quantity.to_string(), "{input}");
            assert_eq!(decoded.format(), quantity.format(), "{input}");
            assert_eq!(bincode::encode_to_vec(&decoded, config).unwrap(), bytes);
        }
    }

    #[test]
    fn bincode_rejects_out_of_range_values() {
        let config = bincode::config::standard();
        for nanos in [
            MAGNITUDE_MAX_NANOS + 1,
            -MAGNITUDE_MAX_NANOS - 1,
            i128::MIN,
            i128::MAX,
        ] {
            let bytes = bincode::encode_to_vec((nanos, Format::DecimalSI), config).unwrap();
            let error = bincode::decode_from_slice::<Quantity, _>(&bytes, config).unwrap_err();
            assert_eq!(
                error.to_string(),
                DecodeError::Other("quantity magnitude is 1e29 or more").to_string()
            );
        }
        let bytes = bincode::encode_to_vec((1_i128, 3_u32), config).unwrap();
        assert!(bincode::decode_from_slice::<Quantity, _>(&bytes, config).is_err());
    }

    #[test]
    fn fuzz_body_accepts_tricky_inputs() {
        for input in [
            "",
            "0",
            "-0",
            "9Ei",
            "1e-99999999999",
            "99999999999999999999999999999.999999999",
            ".000000000001Ki",
            "1000E",
            "\u{ff}",
            "1e",
            "+.5e+5",
        ] {
            fuzz_parse(input.as_bytes());
        }
        fuzz_parse(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        fuzz_parse(&[]);
    }

    /// Any in-range quantity, biased towards round values that exercise every suffix.
    fn any_quantity() -> impl Strategy<Value = Quantity> {
        let format = prop_oneof![
            Just(Format::DecimalSI),
            Just(Format::BinarySI),
            Just(Format::DecimalExponent)
        ];
        let nanos = prop_oneof![
            -MAGNITUDE_MAX_NANOS..=MAGNITUDE_MAX_NANOS,
            -1_000_000_000_000_i128..=1_000_000_000_000,
            (-999_i128..=999, 0_u32..=38).prop_map(|(m, e)| m.saturating_mul(10_i128.pow(e))),
            (-1024_i128..=1024, 0_u32..=7).prop_map(|(m, p)| m * 1024_i128.pow(p) * NANOS_PER_UNIT),
            Just(MAGNITUDE_MAX_NANOS),
            Just(-MAGNITUDE_MAX_NANOS),
        ]
        .prop_filter("in range", |n| {
            n.unsigned_abs() <= MAGNITUDE_MAX_NANOS.unsigned_abs()
        });
        (nanos, format).prop_map(|(nanos, format)| Quantity::from_nanos(nanos, format).unwrap())
    }

    /// Quantity text and its exact value as a fraction `numerator / denominator` of a unit,
    /// built without the parser. Fractions stop at micro precision so nothing rounds.
    fn text_and_model() -> impl Strategy<Value = (String, i128, i128)> {
        let suffixes: Vec<(&str, i128, i128)> = vec![
            ("", 1, 1),
            ("m", 1, 1000),
            ("k", 1000, 1),
            ("M", 1_000_000, 1),
            ("G", 1_000_000_000, 1),
            ("T", 10_i128.pow(12), 1),
            ("P", 10_i128.pow(15), 1),
            ("E", 10_i128.pow(18), 1),
            ("e-3", 1, 1000),
            ("e2", 100, 1),
            ("E7", 10_000_000, 1),
            ("Ki", 1 << 10, 1),
            ("Mi", 1 << 20, 1),
            ("Gi", 1 << 30, 1),
            ("Ti", 1 << 40, 1),
            ("Pi", 1 << 50, 1),
            ("Ei", 1 << 60, 1),
        ];
        (
            any::<bool>(),
            0_i128..=1_000_000,
            0_usize..=3,
            0_i128..=999,
            proptest::sample::select(suffixes),
        )
            .prop_map(|(negative, whole, places, fraction, (suffix, num, den))| {
                let fraction = fraction % 10_i128.pow(u32::try_from(places).unwrap());
                let mut text = String::from(if negative { "-" } else { "" });
                text.push_str(&whole.to_string());
                let mut numerator = whole;
                let mut denominator = 1;
                if places > 0 {
                    write!(text, ".{fraction:0places$}").unwrap();
                    denominator = 10_i128.pow(u32::try_from(places).unwrap());
                    numerator = whole * denominator + fraction;
                }
                text.push_str(suffix);
                let sign = if negative { -1 } else { 1 };
                (text, sign * numerator * num, denominator * den)
            })
    }

    proptest! {
        #[test]
        fn canonical_text_parses_back_to_the_same_value(quantity in any_quantity()) {
            let canonical = quantity.to_string();
            let again = Quantity::parse(&canonical).unwrap();
            prop_assert_eq!(&again, &quantity, "via {}", canonical);
            prop_assert_eq!(again.to_string(), canonical);
        }

        #[test]
        fn order_agrees_with_exact_fractions(
            (a_text, a_num, a_den) in text_and_model(),
            (b_text, b_num, b_den) in text_and_model(),
        ) {
            fuzz_parse(a_text.as_bytes());
            let (a, b) = (q(&a_text), q(&b_text));
            let model = (a_num * b_den).cmp(&(b_num * a_den));
            prop_assert_eq!(a.cmp(&b), model, "{} vs {}", a_text, b_text);
            prop_assert_eq!(a == b, model == Ordering::Equal);
            prop_assert_eq!(a.nanos * a_den, a_num * NANOS_PER_UNIT, "{} value", a_text);
        }

        #[test]
        fn checked_arithmetic_matches_integer_model(a in any_quantity(), b in any_quantity()) {
            let in_range = |n: i128| n.unsigned_abs() <= MAGNITUDE_MAX_NANOS.unsigned_abs();
            let sum = a.nanos.checked_add(b.nanos).filter(|&n| in_range(n));
            prop_assert_eq!(a.checked_add(&b).map(|s| s.nanos), sum);
            let difference = a.nanos.checked_sub(b.nanos).filter(|&n| in_range(n));
            prop_assert_eq!(a.checked_sub(&b).map(|d| d.nanos), difference);
            if let Some(total) = a.checked_add(&b) {
                prop_assert_eq!(Quantity::parse(&total.to_string()).unwrap(), total);
            }
        }

        #[test]
        fn parser_never_panics_on_near_miss_text(
            text in "[-+]?[0-9.]{0,45}[eEinumkKMGTP]{0,3}[-+]?[0-9]{0,22}"
        ) {
            fuzz_parse(text.as_bytes());
        }

        #[test]
        fn parser_never_panics_on_arbitrary_text(text in any::<String>()) {
            fuzz_parse(text.as_bytes());
        }

        #[test]
        fn bincode_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            fuzz_parse(&bytes);
        }
    }
}
