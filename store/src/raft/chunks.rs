//! A snapshot image sent in chunks (issue #11): one frame is capped at
//! [`crate::wire::FRAME_BYTES_MAX`], a store's image is not, so the leader streams it as
//! [`SnapshotChunk`]s of at most [`super::SNAPSHOT_CHUNK_BYTES`] (or
//! [`super::MemberConfig::snapshot_chunk_bytes`]) and the receiver reassembles them
//! ([`Reassembly`]) before installing the whole image exactly as a one-frame snapshot.
//!
//! This follows the shape of Raft's InstallSnapshot RPC (Raft paper §7, figure 13: `offset`,
//! `data`, `done`; the follower "creates a new snapshot file if first chunk (offset is 0)",
//! writes at the offset, and installs only when `done`), and of openraft's own chunked (v1)
//! transport, whose chunks carry the vote, the snapshot's meta and an id, the offset and a
//! `done` flag. Here the image is identified by the sender's vote, the snapshot's meta, its
//! total length and its CRC-32: two snapshots taken at the same log id may differ in bytes
//! (openraft 0.10's `SnapshotMeta` notes this), and chunks of one must never be mixed into the
//! other.
//!
//! The receiver keeps at most one half-received image (memory bounded by one image): a first
//! chunk (offset 0) starts a new one and replaces whatever was half received, unless that was
//! sent under a newer vote (a deposed leader cannot disturb the new leader's transfer); any
//! other chunk must continue the image being received at exactly its next offset, or it is
//! refused and the sender starts again from offset 0 (openraft retries a failed
//! `full_snapshot` from the start).

use openraft::raft::SnapshotResponse;
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};

use super::TypeConfig;

/// One piece of a snapshot image, with what identifies the image it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SnapshotChunk {
    /// The sender's (leader's) vote; the receiver installs the image with it.
    pub vote: VoteOf<TypeConfig>,
    /// The snapshot's meta (last log id, membership).
    pub meta: SnapshotMetaOf<TypeConfig>,
    /// The image's length in bytes.
    pub total: u64,
    /// CRC-32 of the whole image: checked once reassembled, before installing.
    pub crc: u32,
    /// Where `bytes` starts in the image.
    pub offset: u64,
    /// The image's bytes from `offset`.
    pub bytes: Vec<u8>,
    /// True on the chunk that ends the image (`offset + bytes.len() == total`).
    pub last: bool,
}

/// The receiver's answer to one chunk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ChunkAnswer {
    /// Received; the next chunk starts at this offset.
    Next(u64),
    /// The image was complete and handed to Raft: its answer (the receiver's vote, which
    /// tells the sender whether it was deposed).
    Done(SnapshotResponse<TypeConfig>),
    /// Refused (out of order, another snapshot, inconsistent, corrupt): the sender starts
    /// again from offset 0.
    Refused(String),
}

/// The `(offset, length, last)` of every chunk of an image of `total` bytes in chunks of at
/// most `chunk` bytes (at least 1), in order. An empty image is one empty last chunk.
pub(crate) fn chunk_ranges(total: usize, chunk: usize) -> Vec<(usize, usize, bool)> {
    let chunk = chunk.max(1);
    if total == 0 {
        return vec![(0, 0, true)];
    }
    (0..total)
        .step_by(chunk)
        .map(|offset| {
            let len = chunk.min(total - offset);
            (offset, len, offset + len == total)
        })
        .collect()
}

/// The chunks of `image`, sent under `vote`, in order.
pub(crate) fn split(
    vote: &VoteOf<TypeConfig>,
    meta: &SnapshotMetaOf<TypeConfig>,
    image: &[u8],
    chunk: usize,
) -> impl Iterator<Item = SnapshotChunk> {
    let crc = crc32fast::hash(image);
    let total = image.len() as u64;
    chunk_ranges(image.len(), chunk)
        .into_iter()
        .map(move |(offset, len, last)| SnapshotChunk {
            vote: *vote,
            meta: meta.clone(),
            total,
            crc,
            offset: offset as u64,
            bytes: image[offset..offset + len].to_vec(),
            last,
        })
}

/// A whole image, reassembled: what `Raft::install_full_snapshot` takes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Complete {
    pub vote: VoteOf<TypeConfig>,
    pub meta: SnapshotMetaOf<TypeConfig>,
    pub image: Vec<u8>,
}

/// What a chunk did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Appended; the next chunk starts at this offset.
    Next(u64),
    /// The last chunk: the whole image, its CRC checked.
    Complete(Complete),
}

/// The image being received.
struct Partial {
    vote: VoteOf<TypeConfig>,
    meta: SnapshotMetaOf<TypeConfig>,
    total: u64,
    crc: u32,
    bytes: Vec<u8>,
}

impl Partial {
    fn is_of(&self, chunk: &SnapshotChunk) -> bool {
        self.vote == chunk.vote
            && self.meta == chunk.meta
            && self.total == chunk.total
            && self.crc == chunk.crc
    }
}

/// The receiving side: at most one half-received image.
#[derive(Default)]
pub(crate) struct Reassembly {
    partial: Option<Partial>,
}

impl Reassembly {
    /// Bytes of the half-received image held now (0 when none).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.bytes.len())
    }

    /// Takes one chunk. Never panics on peer input; the memory held never exceeds the bytes
    /// actually received for one image.
    ///
    /// # Errors
    ///
    /// Why the chunk was refused (the sender starts again from offset 0).
    pub(crate) fn accept(&mut self, chunk: &SnapshotChunk) -> Result<Accepted, String> {
        let len = chunk.bytes.len() as u64;
        let end = chunk.offset.checked_add(len);
        if end.is_none_or(|end| end > chunk.total || chunk.last != (end == chunk.total))
            || (len == 0 && !chunk.last)
        {
            return Err(format!(
                "inconsistent snapshot chunk: {len} bytes at offset {} of {} (last: {})",
                chunk.offset, chunk.total, chunk.last
            ));
        }
        if chunk.offset == 0 {
            if let Some(p) = &self.partial
                && !p.is_of(chunk)
                && chunk.vote < p.vote
            {
                return Err(format!(
                    "a snapshot sent under a newer vote ({}) is being received; refused the one under {}",
                    p.vote, chunk.vote
                ));
            }
            // A first chunk starts the image afresh (Raft §7: "create new snapshot file if
            // first chunk"), dropping any half-received one.
            self.partial = Some(Partial {
                vote: chunk.vote,
                meta: chunk.meta.clone(),
                total: chunk.total,
                crc: chunk.crc,
                bytes: Vec::new(),
            });
        }
        let Some(partial) = self.partial.as_mut() else {
            return Err(format!(
                "snapshot chunk at offset {} but no snapshot is being received (expected offset 0)",
                chunk.offset
            ));
        };
        if !partial.is_of(chunk) {
            return Err(format!(
                "snapshot chunk at offset {} belongs to another snapshot (up to {}) than the one being received (up to {}); expected offset 0",
                chunk.offset,
                display_last(&chunk.meta),
                display_last(&partial.meta),
            ));
        }
        let expected = partial.bytes.len() as u64;
        if chunk.offset != expected {
            // Out of order: this image cannot be completed; drop it and restart cleanly.
            self.partial = None;
            return Err(format!(
                "snapshot chunk out of order: expected offset {expected}, got {}",
                chunk.offset
            ));
        }
        partial.bytes.extend_from_slice(&chunk.bytes);
        if !chunk.last {
            return Ok(Accepted::Next(expected + len));
        }
        let Some(partial) = self.partial.take() else {
            return Err("no snapshot is being received".into());
        };
        let computed = crc32fast::hash(&partial.bytes);
        if computed != partial.crc {
            return Err(format!(
                "reassembled snapshot checksum mismatch: sent {:08x}, received {computed:08x}",
                partial.crc
            ));
        }
        Ok(Accepted::Complete(Complete {
            vote: partial.vote,
            meta: partial.meta,
            image: partial.bytes,
        }))
    }
}

fn display_last(meta: &SnapshotMetaOf<TypeConfig>) -> String {
    meta.last_log_id
        .as_ref()
        .map_or_else(|| "nothing".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, VoteOf};

    use super::*;

    fn meta(index: u64) -> SnapshotMetaOf<TypeConfig> {
        SnapshotMetaOf::<TypeConfig> {
            last_log_id: Some(LogIdOf::<TypeConfig>::new(
                openraft::impls::leader_id_adv::LeaderId {
                    term: 2,
                    node_id: 1,
                },
                index,
            )),
            last_membership: openraft::StoredMembership::default(),
        }
    }

    fn image(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from(i * 7 % 251).unwrap())
            .collect()
    }

    #[test]
    fn an_image_is_cut_into_chunks_of_at_most_the_chunk_size() {
        assert_eq!(
            chunk_ranges(10, 4),
            vec![(0, 4, false), (4, 4, false), (8, 2, true)]
        );
        assert_eq!(chunk_ranges(8, 4), vec![(0, 4, false), (4, 4, true)]);
        assert_eq!(chunk_ranges(3, 4), vec![(0, 3, true)]);
        assert_eq!(chunk_ranges(0, 4), vec![(0, 0, true)]);
        // 4 MiB chunks of a 9 MiB + 1 byte image: three, the last of 1 MiB + 1 byte.
        let mib = 1 << 20;
        assert_eq!(
            chunk_ranges(9 * mib + 1, 4 * mib),
            vec![
                (0, 4 * mib, false),
                (4 * mib, 4 * mib, false),
                (8 * mib, mib + 1, true)
            ]
        );
    }

    #[test]
    fn chunks_in_order_reassemble_the_exact_image() {
        let vote = VoteOf::<TypeConfig>::new_committed(2, 1);
        let bytes = image(1000);
        let chunks: Vec<SnapshotChunk> = split(&vote, &meta(40), &bytes, 300).collect();
        assert_eq!(
            chunks
                .iter()
                .map(|c| (c.offset, c.bytes.len(), c.last, c.total))
                .collect::<Vec<_>>(),
            vec![
                (0, 300, false, 1000),
                (300, 300, false, 1000),
                (600, 300, false, 1000),
                (900, 100, true, 1000)
            ]
        );
        let mut r = Reassembly::default();
        let mut answers = Vec::new();
        for chunk in chunks {
            answers.push(r.accept(&chunk).unwrap());
        }
        assert_eq!(
            answers,
            vec![
                Accepted::Next(300),
                Accepted::Next(600),
                Accepted::Next(900),
                Accepted::Complete(Complete {
                    vote,
                    meta: meta(40),
                    image: bytes
                })
            ]
        );
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn an_out_of_order_chunk_is_refused_and_the_transfer_restarts_from_zero() {
        let vote = VoteOf::<TypeConfig>::new_committed(2, 1);
        let bytes = image(1000);
        let chunks: Vec<SnapshotChunk> = split(&vote, &meta(40), &bytes, 300).collect();
        let mut r = Reassembly::default();
        assert_eq!(r.accept(&chunks[0]), Ok(Accepted::Next(300)));
        assert_eq!(
            r.accept(&chunks[2]),
            Err("snapshot chunk out of order: expected offset 300, got 600".to_owned())
        );
        // The half-received image is dropped: continuing is refused too.
        assert_eq!(r.held(), 0);
        assert_eq!(
            r.accept(&chunks[1]),
            Err(
                "snapshot chunk at offset 300 but no snapshot is being received (expected offset 0)"
                    .to_owned()
            )
        );
        // Starting again from offset 0 completes.
        let mut last = None;
        for chunk in chunks {
            last = Some(r.accept(&chunk).unwrap());
        }
        assert!(
            matches!(&last, Some(Accepted::Complete(c)) if c.image == bytes),
            "{last:?}"
        );
    }

    #[test]
    fn a_different_snapshot_restarts_at_offset_zero_and_is_refused_elsewhere() {
        let vote = VoteOf::<TypeConfig>::new_committed(2, 1);
        let old: Vec<SnapshotChunk> = split(&vote, &meta(40), &image(1000), 300).collect();
        let newer_bytes = image(700);
        let new: Vec<SnapshotChunk> = split(&vote, &meta(80), &newer_bytes, 300).collect();
        let mut r = Reassembly::default();
        assert_eq!(r.accept(&old[0]), Ok(Accepted::Next(300)));
        // A middle chunk of another snapshot is refused; the one being received is kept.
        assert_eq!(
            r.accept(&new[1]),
            Err("snapshot chunk at offset 300 belongs to another snapshot (up to T2-N1.80) than the one being received (up to T2-N1.40); expected offset 0".to_owned())
        );
        assert_eq!(r.held(), 300);
        // Its first chunk replaces the half-received one.
        let mut answers = Vec::new();
        for chunk in new {
            answers.push(r.accept(&chunk).unwrap());
        }
        assert_eq!(
            answers.last(),
            Some(&Accepted::Complete(Complete {
                vote,
                meta: meta(80),
                image: newer_bytes
            }))
        );
        // The old one's next chunk finds nothing to continue.
        assert!(r.accept(&old[1]).is_err());
    }

    #[test]
    fn a_newer_vote_replaces_a_half_received_image_and_an_older_one_is_refused() {
        let old_leader = VoteOf::<TypeConfig>::new_committed(2, 1);
        let new_leader = VoteOf::<TypeConfig>::new_committed(3, 2);
        let bytes = image(1000);
        let by_new: Vec<SnapshotChunk> = split(&new_leader, &meta(40), &bytes, 300).collect();
        let by_old: Vec<SnapshotChunk> = split(&old_leader, &meta(40), &bytes, 300).collect();
        let mut r = Reassembly::default();
        assert_eq!(r.accept(&by_old[0]), Ok(Accepted::Next(300)));
        assert_eq!(r.accept(&by_new[0]), Ok(Accepted::Next(300)));
        assert_eq!(
            r.accept(&by_old[0]),
            Err(format!(
                "a snapshot sent under a newer vote ({new_leader}) is being received; refused the one under {old_leader}"
            ))
        );
        for chunk in &by_new[1..3] {
            assert!(matches!(r.accept(chunk), Ok(Accepted::Next(_))));
        }
        assert!(matches!(
            r.accept(&by_new[3]),
            Ok(Accepted::Complete(Complete { vote, .. })) if vote == new_leader
        ));
    }

    #[test]
    fn inconsistent_or_corrupt_chunks_are_refused() {
        let vote = VoteOf::<TypeConfig>::new_committed(2, 1);
        let mut chunks: Vec<SnapshotChunk> = split(&vote, &meta(40), &image(10), 4).collect();
        let mut r = Reassembly::default();
        let mut beyond = chunks[0].clone();
        beyond.offset = 8;
        assert_eq!(
            r.accept(&beyond),
            Err("inconsistent snapshot chunk: 4 bytes at offset 8 of 10 (last: false)".to_owned())
        );
        let mut not_last = chunks[2].clone();
        not_last.last = false;
        assert_eq!(
            r.accept(&not_last),
            Err("inconsistent snapshot chunk: 2 bytes at offset 8 of 10 (last: false)".to_owned())
        );
        let mut huge = chunks[1].clone();
        huge.offset = u64::MAX;
        assert!(r.accept(&huge).is_err());
        // A flipped byte in transit fails the image's checksum on the last chunk.
        chunks[1].bytes[0] ^= 1;
        assert_eq!(r.accept(&chunks[0]), Ok(Accepted::Next(4)));
        assert_eq!(r.accept(&chunks[1]), Ok(Accepted::Next(8)));
        let refused = r.accept(&chunks[2]).unwrap_err();
        assert!(
            refused.starts_with("reassembled snapshot checksum mismatch: sent "),
            "{refused}"
        );
        assert_eq!(r.held(), 0);
    }
}
