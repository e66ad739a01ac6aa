//! The on-disk envelope of every record: a format byte, a CRC-32 of the payload, then the
//! payload (bincode 2, `config::standard()`).
//!
//! ```text
//! +--------+----------------+------------------------+
//! | format | crc32 (LE, u32)| bincode payload ...    |
//! +--------+----------------+------------------------+
//! ```
//!
//! Decoding checks the format, the checksum and that bincode consumed every byte (bincode 2
//! otherwise silently ignores trailing bytes, and misreads a record written by an older schema
//! with an appended byte: storage.md §5), and that the payload is the one encoding of its value
//! (bincode also reads integers in wider varint forms than it writes, and maps out of order), so
//! equal records are equal bytes. A record that fails any check is reported with its revision;
//! the store refuses to open rather than guess.

use bincode::{Decode, Encode};
use skiff_core::event::{Event, Revision};
use skiff_core::object::Object;

/// Format of event records. Bump on any change to [`Event`]'s encoding and migrate by format.
pub const EVENT_FORMAT: u8 = 1;
/// Format of projection records ([`Stored`]).
pub const STORED_FORMAT: u8 = 1;
/// Envelope header size: format byte plus CRC-32.
const HEADER_LEN: usize = 5;
/// Largest payload decoded (a guard against a corrupt length field asking for gigabytes):
/// etcd's default request limit is 1.5 MiB; we allow 16 MiB per object.
pub const RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<RECORD_BYTES_MAX>()
}

/// What a key holds in the projection: an object, or raw bytes outside `/registry/`.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[allow(
    clippy::large_enum_variant,
    reason = "rows are decoded, used and dropped; boxing buys nothing"
)]
pub enum StoredValue {
    /// A typed object under `/registry/`.
    Object(Object),
    /// Raw bytes (`etcdctl put` outside `/registry/`).
    Raw(Vec<u8>),
}

/// A projection row: the current value of one key with its etcd-style revisions.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Stored {
    /// Revision of the event that created the key.
    pub create_revision: Revision,
    /// Revision of the event that last changed it (its `resourceVersion`).
    pub mod_revision: Revision,
    /// Number of changes since creation, 1 on create (etcd's `version`).
    pub version: u64,
    /// The value.
    pub value: StoredValue,
}

/// Why a record did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the header.
    #[error("record of {0} bytes is shorter than its header")]
    Truncated(usize),
    /// An unknown format byte.
    #[error("unknown record format {found} (expected {expected})")]
    Format {
        /// Found.
        found: u8,
        /// Expected.
        expected: u8,
    },
    /// The checksum does not match.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Stored in the header.
        stored: u32,
        /// Computed over the payload.
        computed: u32,
    },
    /// bincode rejected the payload.
    #[error("payload does not decode: {0}")]
    Payload(String),
    /// bincode stopped before the end of the payload.
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    /// The payload decodes, but is not how its value encodes (found by the `log_record` fuzz
    /// target: a varint length written in a wider form than needed).
    #[error("payload is not in canonical form")]
    NonCanonical,
}

/// A bincode writer that only checks the bytes it is given are the next ones of `expected`.
struct SameBytes<'a> {
    expected: &'a [u8],
}

impl bincode::enc::write::Writer for SameBytes<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        match self.expected.strip_prefix(bytes) {
            Some(rest) => {
                self.expected = rest;
                Ok(())
            }
            None => Err(bincode::error::EncodeError::Other("differs")),
        }
    }
}

fn encode_with<T: Encode>(format: u8, value: &T) -> Vec<u8> {
    let mut out = vec![format, 0, 0, 0, 0];
    bincode::encode_into_std_write(value, &mut out, config())
        .expect("encoding to a Vec never fails for our types");
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    out
}

fn decode_with<T: Decode<()> + Encode>(format: u8, bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Truncated(bytes.len()));
    }
    if bytes[0] != format {
        return Err(DecodeError::Format {
            found: bytes[0],
            expected: format,
        });
    }
    let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let payload = &bytes[HEADER_LEN..];
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let (value, used) = bincode::decode_from_slice(payload, config())
        .map_err(|e| DecodeError::Payload(e.to_string()))?;
    if used != payload.len() {
        return Err(DecodeError::TrailingBytes(payload.len() - used));
    }
    // Re-encode into a comparing writer: no allocation, and it stops at the first difference.
    let mut same = SameBytes { expected: payload };
    if bincode::encode_into_writer(&value, &mut same, config()).is_err()
        || !same.expected.is_empty()
    {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// Encodes an event record.
pub fn encode_event(event: &Event) -> Vec<u8> {
    encode_with(EVENT_FORMAT, event)
}

/// Decodes an event record: the body of the `log_record` fuzz target. Never panics.
pub fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    decode_with(EVENT_FORMAT, bytes)
}

/// Encodes a projection record.
pub fn encode_stored(stored: &Stored) -> Vec<u8> {
    encode_with(STORED_FORMAT, stored)
}

/// Decodes a projection record. Never panics.
pub fn decode_stored(bytes: &[u8]) -> Result<Stored, DecodeError> {
    decode_with(STORED_FORMAT, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::event::{Actor, Change};
    use skiff_core::object::{ConfigMap, MicroTime, ObjectMeta};

    fn event() -> Event {
        let cm = ConfigMap {
            metadata: ObjectMeta::named("settings"),
            ..ConfigMap::default()
        };
        Event {
            revision: Revision(7),
            at: MicroTime::from_unix_micros(1_700_000_000_000_000),
            actor: Actor::new("admin"),
            change: Change::Create(cm.into()),
        }
    }

    #[test]
    fn event_round_trips_to_identical_bytes() {
        let bytes = encode_event(&event());
        let decoded = decode_event(&bytes).unwrap();
        assert_eq!(decoded, event());
        assert_eq!(encode_event(&decoded), bytes);
    }

    #[test]
    fn flipped_bit_fails_the_checksum() {
        let mut bytes = encode_event(&event());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(matches!(
            decode_event(&bytes),
            Err(DecodeError::Checksum { .. })
        ));
    }

    #[test]
    fn trailing_byte_is_rejected_even_with_a_valid_checksum() {
        let mut bytes = encode_event(&event());
        bytes.push(1);
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        bytes[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_event(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    /// Regression (fuzz/regressions/log_record/noncanonical-varint-length): bincode read a
    /// length written as a u16 varint (`251, 10, 0`) where it writes one byte (`10`); the record
    /// decoded, but re-encoded to other bytes.
    #[test]
    fn regression_log_record_non_canonical_varint_is_rejected() {
        let mut bytes = encode_event(&event());
        // The revision (7) is the payload's first varint; write it the wide way.
        assert_eq!(bytes[HEADER_LEN], 7);
        bytes.splice(HEADER_LEN..=HEADER_LEN, [251, 7, 0]);
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        bytes[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_event(&bytes), Err(DecodeError::NonCanonical));
    }

    #[test]
    fn short_and_foreign_records_are_rejected() {
        assert_eq!(decode_event(&[1, 2]), Err(DecodeError::Truncated(2)));
        assert_eq!(
            decode_event(&[9, 0, 0, 0, 0]),
            Err(DecodeError::Format {
                found: 9,
                expected: EVENT_FORMAT
            })
        );
    }
}
