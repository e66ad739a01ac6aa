//! An object's own history, straight from the log: every event that touched its key and is
//! still retained (all of them above the compacted revision), with who made it and when.

use redb::ReadableDatabase;
use skiff_core::event::Event;

use crate::error::ReadError;
use crate::store::{Store, decode_event_row};
use crate::tables::{EVENTS, KEY_REVISIONS};

/// Events per history at most: an object changed more often than this shows its latest ones
/// (a Lease renewed every 10 s for a day has 8,640).
pub const HISTORY_EVENTS_MAX: usize = 1_000;

impl Store {
    /// The retained events that touched `key`, oldest first, at most [`HISTORY_EVENTS_MAX`]
    /// (the newest ones).
    pub fn history(&self, key: &str) -> Result<Vec<Event>, ReadError> {
        let read = self.db.begin_read()?;
        let index = read.open_table(KEY_REVISIONS)?;
        let events = read.open_table(EVENTS)?;
        let mut revisions = Vec::new();
        for row in index.range((key, 0)..=(key, u64::MAX))?.rev() {
            let (k, _) = row?;
            revisions.push(k.value().1);
            if revisions.len() == HISTORY_EVENTS_MAX {
                break;
            }
        }
        revisions.reverse();
        let mut out = Vec::with_capacity(revisions.len());
        for revision in revisions {
            if let Some(bytes) = events.get(revision)? {
                out.push(decode_event_row(revision, bytes.value(), &self.kinds)?);
            }
        }
        Ok(out)
    }
}
