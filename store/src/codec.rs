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
use skiff_core::event::{Change, Event, Revision};
use skiff_core::object::{KindRegistry, Object};

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
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
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
#[bincode(decode_context = "skiff_core::object::KindRegistry")]
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

/// The fixed leading fields of a projection record: everything but the value. Decoding only
/// these (see [`decode_stored_header`]) skips the object, which is most of a row's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Decode)]
pub struct StoredHeader {
    /// See [`Stored::create_revision`].
    pub create_revision: Revision,
    /// See [`Stored::mod_revision`].
    pub mod_revision: Revision,
    /// See [`Stored::version`].
    pub version: u64,
    /// The value's variant index: 0 for [`StoredValue::Object`], 1 for [`StoredValue::Raw`].
    variant: u32,
}

impl StoredHeader {
    /// Whether the row holds an object (rather than raw bytes).
    pub fn is_object(&self) -> bool {
        self.variant == 0
    }
}

/// A projection row borrowed from its parts: encodes to exactly the bytes of the equivalent
/// [`Stored`] (same format), without cloning the object into a `Stored` first.
struct StoredRef<'a> {
    create_revision: Revision,
    mod_revision: Revision,
    version: u64,
    value: StoredValueRef<'a>,
}

/// A borrowed [`StoredValue`].
#[derive(Clone, Copy)]
pub enum StoredValueRef<'a> {
    /// [`StoredValue::Object`].
    Object(&'a Object),
    /// [`StoredValue::Raw`].
    Raw(&'a [u8]),
}

impl Encode for StoredRef<'_> {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        // Field by field in `Stored`'s declaration order, the variant index as derived enums
        // encode it (u32): byte-identical to encoding the owned `Stored` (tested below).
        self.create_revision.encode(encoder)?;
        self.mod_revision.encode(encoder)?;
        self.version.encode(encoder)?;
        match self.value {
            StoredValueRef::Object(object) => {
                0u32.encode(encoder)?;
                object.encode(encoder)
            }
            StoredValueRef::Raw(bytes) => {
                1u32.encode(encoder)?;
                bytes.encode(encoder)
            }
        }
    }
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

/// Appends to a `Vec` directly (bincode's `std::io::Write` adapter costs more per call).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Initial capacity of an encoded record: a typical object (about 1 KiB) fits without growing.
const RECORD_CAPACITY: usize = 1536;

pub(crate) fn encode_with<T: Encode>(format: u8, value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_CAPACITY);
    encode_into(format, value, &mut out);
    out
}

/// Appends the record of `value` (envelope and payload) to `out`.
fn encode_into<T: Encode>(format: u8, value: &T, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[format, 0, 0, 0, 0]);
    bincode::encode_into_writer(value, VecWriter(out), config())
        .expect("encoding to a Vec never fails for our types");
    seal(&mut out[start..]);
}

/// Checks the envelope (length, format, checksum) and returns the payload.
fn checked_payload(format: u8, bytes: &[u8]) -> Result<&[u8], DecodeError> {
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
    Ok(payload)
}

pub(crate) fn decode_with<T: Decode<KindRegistry> + Encode>(
    format: u8,
    bytes: &[u8],
    kinds: &KindRegistry,
) -> Result<T, DecodeError> {
    let payload = checked_payload(format, bytes)?;
    let (value, used) = bincode::decode_from_slice_with_context(payload, config(), kinds.clone())
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

/// Encodes an event record and, for a create or an update, the projection row it leaves
/// ([`encode_stored`] of that row), encoding the object once for both: bincode encodes a
/// struct or enum as the concatenation of its fields after the variant index, so the object's
/// bytes are the same in both records. Byte-identical to encoding each (tested below).
pub fn encode_event_and_row(event: &Event) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut record = Vec::with_capacity(RECORD_CAPACITY);
    let mut row = Vec::with_capacity(RECORD_CAPACITY);
    let has_row = encode_event_and_row_into(event, &mut record, &mut row);
    (record, has_row.then_some(row))
}

/// [`encode_event_and_row`] into buffers the caller reuses (cleared first): the writer encodes
/// a whole batch through the same two buffers, since redb copies what it inserts. Returns
/// whether `row` was written (creates and updates); otherwise only `record` is.
pub fn encode_event_and_row_into(event: &Event, record: &mut Vec<u8>, row: &mut Vec<u8>) -> bool {
    record.clear();
    row.clear();
    let (variant, object, create_revision, version) = match &event.change {
        Change::Create(object) => (0u32, object, event.revision, 1),
        Change::Update {
            object,
            create_revision,
            version,
        } => (1u32, object, *create_revision, *version),
        _ => {
            encode_into(EVENT_FORMAT, event, record);
            return false;
        }
    };
    record.extend_from_slice(&[EVENT_FORMAT, 0, 0, 0, 0]);
    append(record, (event.revision, event.at, &event.actor, variant));
    let body_start = record.len();
    append(record, object);
    let body = body_start..record.len();
    row.extend_from_slice(&[STORED_FORMAT, 0, 0, 0, 0]);
    append(row, (create_revision, event.revision, version, 0u32));
    row.extend_from_slice(&record[body]);
    seal(row);
    if variant == 1 {
        append(record, (create_revision, version));
    }
    seal(record);
    true
}

/// Appends `value`'s bincode encoding to `out`.
fn append<T: Encode>(out: &mut Vec<u8>, value: T) {
    bincode::encode_into_writer(value, VecWriter(out), config())
        .expect("encoding to a Vec never fails for our types");
}

/// Writes the payload's checksum into the header.
fn seal(out: &mut [u8]) {
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes an event record of built-in kinds: the body of the `log_record` fuzz target.
/// Never panics.
pub fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    decode_event_in(bytes, &KindRegistry::builtin())
}

/// Decodes an event record whose objects may be of the custom kinds of `kinds` (an object of
/// a kind it does not know is a [`DecodeError::Payload`] naming the kind). Never panics.
pub fn decode_event_in(bytes: &[u8], kinds: &KindRegistry) -> Result<Event, DecodeError> {
    decode_with(EVENT_FORMAT, bytes, kinds)
}

/// Encodes a projection record.
pub fn encode_stored(stored: &Stored) -> Vec<u8> {
    encode_with(STORED_FORMAT, stored)
}

/// Encodes a projection record from its parts: the same bytes as [`encode_stored`] of the
/// equivalent [`Stored`], without building (and cloning the object into) one.
pub fn encode_stored_parts(
    create_revision: Revision,
    mod_revision: Revision,
    version: u64,
    value: StoredValueRef<'_>,
) -> Vec<u8> {
    encode_with(
        STORED_FORMAT,
        &StoredRef {
            create_revision,
            mod_revision,
            version,
            value,
        },
    )
}

/// Decodes only the revisions and the value's kind of a projection record, after checking its
/// format and checksum (the value's own encoding is not checked: [`decode_stored`] does that).
/// Never panics.
pub fn decode_stored_header(bytes: &[u8]) -> Result<StoredHeader, DecodeError> {
    let payload = checked_payload(STORED_FORMAT, bytes)?;
    let (header, _): (StoredHeader, usize) = bincode::decode_from_slice(payload, config())
        .map_err(|e| DecodeError::Payload(e.to_string()))?;
    if header.variant > 1 {
        return Err(DecodeError::Payload(format!(
            "unexpected value variant {}",
            header.variant
        )));
    }
    Ok(header)
}

/// Decodes a projection record of a built-in kind. Never panics.
pub fn decode_stored(bytes: &[u8]) -> Result<Stored, DecodeError> {
    decode_stored_in(bytes, &KindRegistry::builtin())
}

/// Decodes a projection record whose object may be of a custom kind of `kinds`. Never panics.
pub fn decode_stored_in(bytes: &[u8], kinds: &KindRegistry) -> Result<Stored, DecodeError> {
    decode_with(STORED_FORMAT, bytes, kinds)
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
    fn stored_parts_and_header_agree_with_the_owned_row() {
        let Change::Create(object) = event().change else {
            unreachable!()
        };
        let rows = [
            Stored {
                create_revision: Revision(3),
                mod_revision: Revision(300),
                version: 7,
                value: StoredValue::Object(object),
            },
            Stored {
                create_revision: Revision(1),
                mod_revision: Revision(1 << 40),
                version: 1,
                value: StoredValue::Raw(b"raw bytes".to_vec()),
            },
        ];
        for stored in rows {
            let value = match &stored.value {
                StoredValue::Object(o) => StoredValueRef::Object(o),
                StoredValue::Raw(r) => StoredValueRef::Raw(r),
            };
            let bytes = encode_stored_parts(
                stored.create_revision,
                stored.mod_revision,
                stored.version,
                value,
            );
            assert_eq!(bytes, encode_stored(&stored));
            let header = decode_stored_header(&bytes).unwrap();
            assert_eq!(header.create_revision, stored.create_revision);
            assert_eq!(header.mod_revision, stored.mod_revision);
            assert_eq!(header.version, stored.version);
            assert_eq!(
                header.is_object(),
                matches!(stored.value, StoredValue::Object(_))
            );
        }
    }

    #[test]
    fn event_and_row_encoded_together_match_separate_encodings() {
        let created = event();
        let Change::Create(object) = created.change.clone() else {
            unreachable!()
        };
        let updated = Event {
            revision: Revision(300),
            change: Change::Update {
                object: object.clone(),
                create_revision: Revision(7),
                version: 4,
            },
            ..created.clone()
        };
        let raw = Event {
            change: Change::DeleteRaw { key: "k".into() },
            ..created.clone()
        };
        let rows = [(&created, Revision(7), 1), (&updated, Revision(7), 4)];
        for (event, create_revision, version) in rows {
            let (record, row) = encode_event_and_row(event);
            assert_eq!(record, encode_event(event));
            let stored = Stored {
                create_revision,
                mod_revision: event.revision,
                version,
                value: StoredValue::Object(object.clone()),
            };
            assert_eq!(row.unwrap(), encode_stored(&stored));
        }
        let (record, row) = encode_event_and_row(&raw);
        assert_eq!(record, encode_event(&raw));
        assert!(row.is_none());
    }

    /// The writer encodes a whole batch through two reused buffers: an earlier, longer record
    /// must leave nothing behind, and an event without a row leaves the row buffer empty.
    #[test]
    fn reused_buffers_encode_the_same_bytes_as_fresh_ones() {
        let created = event();
        let Change::Create(object) = created.change.clone() else {
            unreachable!()
        };
        let mut long = object.clone();
        long.metadata_mut().name = Some("a-much-longer-name-than-settings".repeat(8));
        let first = Event {
            change: Change::Create(long),
            ..created.clone()
        };
        let raw = Event {
            change: Change::DeleteRaw { key: "k".into() },
            ..created.clone()
        };
        let (mut record, mut row) = (Vec::new(), Vec::new());
        assert!(encode_event_and_row_into(&first, &mut record, &mut row));
        assert!(encode_event_and_row_into(&created, &mut record, &mut row));
        let (fresh_record, fresh_row) = encode_event_and_row(&created);
        assert_eq!(record, fresh_record);
        assert_eq!(Some(row.clone()), fresh_row);
        assert_eq!(record, encode_event(&created));
        assert!(!encode_event_and_row_into(&raw, &mut record, &mut row));
        assert_eq!(record, encode_event(&raw));
        assert!(row.is_empty());
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
