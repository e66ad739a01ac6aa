//! Length-prefixed frames: a 4-byte little-endian payload length, then the payload (a bincode
//! message). A frame larger than [`FRAME_BYTES_MAX`] is refused before anything is allocated,
//! and a malformed frame ends only its own connection.

/// Largest payload accepted, in bytes. etcd refuses requests over 1.5 MiB; a list page of a
/// few thousand objects can exceed that, so 16 MiB leaves room without letting one peer make
/// the server allocate gigabytes.
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than [`FRAME_BYTES_MAX`].
    #[error("frame of {announced} bytes exceeds the limit of {FRAME_BYTES_MAX}")]
    TooLarge {
        /// The announced payload length.
        announced: u64,
    },
    /// The payload is not a message of this protocol version.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// What [`split_frame`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split<'a> {
    /// A whole frame: its payload, and how many bytes of the buffer it used.
    Frame {
        /// The payload.
        payload: &'a [u8],
        /// Prefix plus payload.
        consumed: usize,
    },
    /// Not enough bytes yet; at least this many are needed in total.
    NeedMore(usize),
}

/// Finds the first frame in `buffer`. Never panics and never allocates.
pub fn split_frame(buffer: &[u8]) -> Result<Split<'_>, FrameError> {
    let Some(prefix) = buffer.get(..LENGTH_PREFIX_BYTES) else {
        return Ok(Split::NeedMore(LENGTH_PREFIX_BYTES));
    };
    let announced = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let len = usize::try_from(announced).unwrap_or(usize::MAX);
    if len > FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge {
            announced: u64::from(announced),
        });
    }
    let total = LENGTH_PREFIX_BYTES + len;
    match buffer.get(LENGTH_PREFIX_BYTES..total) {
        Some(payload) => Ok(Split::Frame {
            payload,
            consumed: total,
        }),
        None => Ok(Split::NeedMore(total)),
    }
}

/// Prefixes `payload` with its length.
///
/// # Errors
///
/// [`FrameError::TooLarge`] when the payload exceeds [`FRAME_BYTES_MAX`].
pub fn frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge {
            announced: payload.len() as u64,
        });
    }
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        announced: payload.len() as u64,
    })?;
    let mut out = Vec::with_capacity(LENGTH_PREFIX_BYTES + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

const _: () = assert!(FRAME_BYTES_MAX <= u32::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_back_into_their_payloads() {
        let mut stream = frame(b"hello").unwrap();
        stream.extend(frame(b"").unwrap());
        let Split::Frame { payload, consumed } = split_frame(&stream).unwrap() else {
            panic!()
        };
        assert_eq!((payload, consumed), (&b"hello"[..], 9));
        assert_eq!(
            split_frame(&stream[consumed..]).unwrap(),
            Split::Frame {
                payload: b"",
                consumed: 4
            }
        );
    }

    #[test]
    fn partial_frames_ask_for_more() {
        let stream = frame(b"hello").unwrap();
        assert_eq!(split_frame(&stream[..2]).unwrap(), Split::NeedMore(4));
        assert_eq!(split_frame(&stream[..6]).unwrap(), Split::NeedMore(9));
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let prefix = u32::MAX.to_le_bytes();
        assert_eq!(
            split_frame(&prefix).unwrap_err(),
            FrameError::TooLarge {
                announced: u64::from(u32::MAX)
            }
        );
    }
}
