//! Snapshots and defragmentation: what `etcdctl snapshot save`, `etcdutl snapshot
//! status|restore` and `etcdutl defrag` do, for skiff's redb database.
//!
//! A snapshot file is a complete skiff database — a fresh redb file holding a consistent copy of
//! every table read in one transaction, so at one revision — followed by a fixed-size trailer
//! that records what the copy holds and checksums it (etcd likewise appends a digest to its
//! bolt snapshot):
//!
//! ```text
//! +-------------------------------+-------------------------------------------------------+
//! | redb database (image_bytes)   | trailer (TRAILER_BYTES, every integer little-endian)  |
//! +-------------------------------+-------------------------------------------------------+
//! trailer: magic "skiffsnp" | format u32 | revision u64 | compacted u64 | events u64 |
//!          keys u64 | state hash u64 | image_bytes u64 | image crc32 u32 | trailer crc32 u32
//! ```
//!
//! Checks are paired (STYLE.md §4): saving compares the copy's state hash with the source's
//! before it writes the trailer; reading checks the trailer's and the image's CRC-32 (which
//! catches every corrupted byte, any burst of up to 32 bits); restoring then recomputes the
//! restored projection's hash, compares it with the trailer's, and rebuilds the projection from
//! the log ([`Store::verify`]) before the data directory appears under its name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    Database, Durability, MultimapTableHandle, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, TableHandle, WriteTransaction,
};
use skiff_core::event::Revision;
use skiff_core::object::KindRegistry;
use tokio::sync::mpsc;

use crate::error::{ReadError, StoreError};
use crate::store::{DB_FILE, Status, Store, check_tail, hash_projection, read_meta};
use crate::tables::{
    self, BY_NAMESPACE, BY_OWNER, EVENTS, KEY_REVISIONS, META, OBJECTS, PODS_BY_NODE,
};
use crate::watch::WatchHub;

/// First bytes of a snapshot trailer.
const MAGIC: [u8; 8] = *b"skiffsnp";
/// Format of the snapshot trailer (and of the tables it copies). Bump on any change.
pub const SNAPSHOT_FORMAT: u32 = 1;
/// Size of the trailer after the database image.
pub const TRAILER_BYTES: u64 = 8 + 4 + 6 * 8 + 4 + 4;
/// Bytes read or copied per step when checksumming or restoring an image.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Compaction passes of a defrag at most: redb moves pages towards the start of the file per
/// pass and reports when nothing more moved, which takes a few passes; the bound only guards
/// against a redb bug looping forever.
pub const DEFRAG_PASSES_MAX: u32 = 64;
/// Suffix of the file a snapshot is written under before it is renamed into place.
pub const SNAPSHOT_PART_SUFFIX: &str = ".part";
/// Suffix of the sibling directory a restore builds before renaming it into place.
pub const RESTORING_SUFFIX: &str = ".restoring";

const _: () = assert!(CHUNK_BYTES > 0 && DEFRAG_PASSES_MAX > 0);

/// Every table of a skiff database. A snapshot copies each; one it does not know is refused
/// (a table added to the store must be added here, or snapshots would silently drop it).
const TABLE_NAMES: [&str; 7] = [
    "events",
    "objects",
    "key_revisions",
    "pods_by_node",
    "by_owner",
    "by_namespace",
    "meta",
];

/// Why a snapshot, restore or defrag failed. Nothing is left under the target name on failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A filesystem step failed.
    #[error("cannot {step} {}", path.display())]
    Io {
        /// What was being done, e.g. `rename into place`.
        step: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// redb failed.
    #[error("cannot {step}")]
    Redb {
        /// What was being done, e.g. `open the database`.
        step: &'static str,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// Reading the store failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store is corrupt or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file does not end with a skiff snapshot trailer.
    #[error("{} is not a skiff snapshot: {reason}", path.display())]
    NotASnapshot {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The trailer's format is one this build does not read.
    #[error("{} has snapshot format {found}; this build reads format {SNAPSHOT_FORMAT}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The format found.
        found: u32,
    },
    /// A checksum or a recorded figure does not match the contents.
    #[error("snapshot {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What did not match, with both values.
        reason: String,
    },
    /// The database holds a table snapshots do not know.
    #[error("table {name} is not known to snapshots; add it to snapshot::TABLE_NAMES")]
    UnknownTable {
        /// Its name.
        name: String,
    },
    /// A restore into a directory that holds something.
    #[error("data directory {} exists and is not empty", path.display())]
    DataDirNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// A defrag of a directory with no database.
    #[error("no skiff database at {}", path.display())]
    NoDatabase {
        /// The database file looked for.
        path: PathBuf,
    },
}

fn io_step(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { step, path, source }
}

fn redb_step<E: Into<redb::Error>>(step: &'static str) -> impl FnOnce(E) -> SnapshotError {
    move |source| SnapshotError::Redb {
        step,
        source: source.into(),
    }
}

/// What `snapshot status` shows: the store's status at the snapshot's revision and the file's
/// size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStatus {
    /// Revision, compacted revision, events, keys and state hash of the copy.
    pub status: Status,
    /// Size of the snapshot file.
    pub size_bytes: u64,
}

/// What a defrag did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefragReport {
    /// The store's status (unchanged by the defrag).
    pub status: Status,
    /// Size of the database file before.
    pub size_before_bytes: u64,
    /// Size of the database file after.
    pub size_after_bytes: u64,
}

/// The trailer of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trailer {
    revision: u64,
    compacted: u64,
    events: u64,
    keys: u64,
    hash: u64,
    image_bytes: u64,
    image_crc: u32,
}

impl Trailer {
    fn status(&self) -> Status {
        Status {
            revision: Revision(self.revision),
            compacted: Revision(self.compacted),
            events: self.events,
            keys: self.keys,
            hash: self.hash,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(TRAILER_BYTES).unwrap_or(0));
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT.to_le_bytes());
        for v in [
            self.revision,
            self.compacted,
            self.events,
            self.keys,
            self.hash,
            self.image_bytes,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.image_crc.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(out.len() as u64, TRAILER_BYTES, "trailer layout");
        out
    }

    /// Decodes the trailer of a file of `file_bytes` bytes.
    fn decode(path: &Path, bytes: &[u8], file_bytes: u64) -> Result<Trailer, SnapshotError> {
        assert_eq!(bytes.len() as u64, TRAILER_BYTES, "trailer read");
        let not_snapshot = |reason: &str| SnapshotError::NotASnapshot {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        };
        if bytes[..8] != MAGIC {
            return Err(not_snapshot("no snapshot trailer at its end"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "trailer checksum {stored:#010x} differs from computed {computed:#010x}"
                ),
            });
        }
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let format = u32_at(8);
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format {
                path: path.to_path_buf(),
                found: format,
            });
        }
        let trailer = Trailer {
            revision: u64_at(12),
            compacted: u64_at(20),
            events: u64_at(28),
            keys: u64_at(36),
            hash: u64_at(44),
            image_bytes: u64_at(52),
            image_crc: u32_at(60),
        };
        if trailer.image_bytes.checked_add(TRAILER_BYTES) != Some(file_bytes) {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "trailer records a {} byte database but the file holds {}",
                    trailer.image_bytes,
                    file_bytes.saturating_sub(TRAILER_BYTES)
                ),
            });
        }
        Ok(trailer)
    }
}

/// The status of the store as one read transaction sees it.
fn status_of(read: &ReadTransaction) -> Result<Status, SnapshotError> {
    Ok(Status {
        revision: read_meta(read, tables::META_HEAD)?,
        compacted: read_meta(read, tables::META_COMPACTED)?,
        events: read
            .open_table(EVENTS)
            .map_err(ReadError::from)?
            .len()
            .map_err(ReadError::from)?,
        keys: read
            .open_table(OBJECTS)
            .map_err(ReadError::from)?
            .len()
            .map_err(ReadError::from)?,
        hash: hash_projection(read)?,
    })
}

/// Refuses a database with a table this module would not copy.
fn check_known_tables(read: &ReadTransaction) -> Result<(), SnapshotError> {
    for table in read.list_tables().map_err(ReadError::from)? {
        if !TABLE_NAMES.contains(&table.name()) {
            return Err(SnapshotError::UnknownTable {
                name: table.name().to_owned(),
            });
        }
    }
    if let Some(table) = read.list_multimap_tables().map_err(ReadError::from)?.next() {
        return Err(SnapshotError::UnknownTable {
            name: table.name().to_owned(),
        });
    }
    Ok(())
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &ReadTransaction,
    write: &WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), SnapshotError> {
    let from = read.open_table(table).map_err(ReadError::from)?;
    let mut to = write
        .open_table(table)
        .map_err(redb_step("open a table of the snapshot"))?;
    for row in from.iter().map_err(ReadError::from)? {
        let (k, v) = row.map_err(ReadError::from)?;
        to.insert(k.value(), v.value())
            .map_err(redb_step("copy a row into the snapshot"))?;
    }
    Ok(())
}

/// Copies every table of `read` into `write`.
fn copy_tables(read: &ReadTransaction, write: &WriteTransaction) -> Result<(), SnapshotError> {
    copy_table(read, write, EVENTS)?;
    copy_table(read, write, OBJECTS)?;
    copy_table(read, write, KEY_REVISIONS)?;
    copy_table(read, write, PODS_BY_NODE)?;
    copy_table(read, write, BY_OWNER)?;
    copy_table(read, write, BY_NAMESPACE)?;
    copy_table(read, write, META)?;
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> Result<PathBuf, SnapshotError> {
    let Some(name) = path.file_name() else {
        return Err(SnapshotError::Io {
            step: "name a file next to",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
        });
    };
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(path.with_file_name(name))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_step("fsync directory", dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), SnapshotError> {
    // Windows cannot open a directory as a file; NTFS journals renames itself.
    Ok(())
}

fn file_len(path: &Path) -> Result<u64, SnapshotError> {
    Ok(fs::metadata(path).map_err(io_step("inspect", path))?.len())
}

/// CRC-32 of the first `len` bytes of `file`, read from its start; optionally copied to `copy`.
fn crc_of_prefix(
    file: &mut File,
    path: &Path,
    len: u64,
    mut copy: Option<(&mut File, &Path)>,
) -> Result<u32, SnapshotError> {
    file.seek(SeekFrom::Start(0))
        .map_err(io_step("read", path))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK_BYTES as u64)).expect("at most CHUNK_BYTES");
        file.read_exact(&mut buf[..n])
            .map_err(io_step("read", path))?;
        hasher.update(&buf[..n]);
        if let Some((out, out_path)) = copy.as_mut() {
            out.write_all(&buf[..n])
                .map_err(io_step("write", out_path))?;
        }
        left -= n as u64;
    }
    Ok(hasher.finalize())
}

/// Opens a snapshot and reads its trailer (checking the trailer's own checksum, not yet the
/// image's).
fn open_snapshot(path: &Path) -> Result<(File, Trailer), SnapshotError> {
    let mut file = File::open(path).map_err(io_step("open snapshot", path))?;
    let file_bytes = file
        .metadata()
        .map_err(io_step("inspect snapshot", path))?
        .len();
    if file_bytes < TRAILER_BYTES {
        return Err(SnapshotError::NotASnapshot {
            path: path.to_path_buf(),
            reason: format!("{file_bytes} bytes is shorter than a snapshot trailer"),
        });
    }
    file.seek(SeekFrom::Start(file_bytes - TRAILER_BYTES))
        .map_err(io_step("read snapshot", path))?;
    let mut bytes = vec![0u8; usize::try_from(TRAILER_BYTES).expect("small")];
    file.read_exact(&mut bytes)
        .map_err(io_step("read snapshot", path))?;
    let trailer = Trailer::decode(path, &bytes, file_bytes)?;
    Ok((file, trailer))
}

fn check_image_crc(path: &Path, trailer: &Trailer, computed: u32) -> Result<(), SnapshotError> {
    if computed == trailer.image_crc {
        Ok(())
    } else {
        Err(SnapshotError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "database checksum {:#010x} differs from computed {computed:#010x}",
                trailer.image_crc
            ),
        })
    }
}

/// A store over `db` without a writer, for checks: writes fail with [`StoreError::Stopped`].
fn offline_store(db: Database, kinds: KindRegistry) -> Store {
    let (requests, _) = mpsc::channel(1);
    Store {
        db: Arc::new(db),
        requests,
        hub: WatchHub::new(),
        clock: Arc::new(skiff_core::clock::SystemClock::new()),
        kinds,
        replica: None,
    }
}

fn remove_if_present(path: &Path) -> Result<(), SnapshotError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_step("remove stale", path)(e)),
    }
}

impl Store {
    /// Writes a consistent snapshot of the store at its current revision to `path`
    /// (`etcdctl snapshot save`) and returns the status it captured. Writers keep running: the
    /// copy is read in one read transaction.
    ///
    /// # Guarantees
    /// The file appears under `path` only complete, checksummed and synced (written as
    /// `<path>.part`, then renamed, then the directory is synced); an existing file at `path`
    /// is replaced. The copy's state hash equals the store's at the captured revision.
    ///
    /// # Errors
    /// I/O and redb failures; [`SnapshotError::UnknownTable`] when the database holds a table
    /// this module does not copy.
    pub fn snapshot_save(&self, path: &Path) -> Result<Status, SnapshotError> {
        let read = self.db.begin_read().map_err(ReadError::from)?;
        check_known_tables(&read)?;
        let status = status_of(&read)?;
        let part = sibling(path, SNAPSHOT_PART_SUFFIX)?;
        remove_if_present(&part)?;
        let result = write_snapshot(&read, &status, &part);
        drop(read);
        if let Err(e) = result {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        fs::rename(&part, path).map_err(io_step("rename into place", path))?;
        sync_dir(&parent_dir(path))?;
        Ok(status)
    }

    /// Reads a snapshot's trailer and checks every byte of it against its checksums
    /// (`etcdutl snapshot status`).
    ///
    /// # Errors
    /// [`SnapshotError::NotASnapshot`], [`SnapshotError::Format`] or [`SnapshotError::Corrupt`]
    /// (naming the checksum that failed) for a file that is not an intact snapshot.
    pub fn snapshot_status(path: &Path) -> Result<SnapshotStatus, SnapshotError> {
        let (mut file, trailer) = open_snapshot(path)?;
        let computed = crc_of_prefix(&mut file, path, trailer.image_bytes, None)?;
        check_image_crc(path, &trailer, computed)?;
        Ok(SnapshotStatus {
            status: trailer.status(),
            size_bytes: trailer.image_bytes + TRAILER_BYTES,
        })
    }

    /// Restores a snapshot into a new data directory (`etcdutl snapshot restore`); open it
    /// with [`crate::Backing::Dir`] afterwards.
    ///
    /// # Guarantees
    /// The checksums are verified while the database is copied; then the copy's state hash
    /// and counts are compared with the snapshot's and the projection is rebuilt from the log
    /// ([`Store::verify`]). Only then does the directory appear under `data_dir`: it is built
    /// as the sibling `<data_dir>.restoring` and renamed into place. On any failure the
    /// sibling is removed and `data_dir` is untouched.
    ///
    /// # Errors
    /// [`SnapshotError::DataDirNotEmpty`] when `data_dir` holds anything (restore never
    /// overwrites); a sibling `<data_dir>.restoring` left by a crashed restore is an error too
    /// (remove it); the errors of [`Store::snapshot_status`]; [`SnapshotError::Corrupt`] when
    /// the restored state does not match the snapshot's record.
    pub fn restore(snapshot: &Path, data_dir: &Path) -> Result<Status, SnapshotError> {
        match fs::read_dir(data_dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(SnapshotError::DataDirNotEmpty {
                        path: data_dir.to_path_buf(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_step("inspect data directory", data_dir)(e)),
        }
        let (mut file, trailer) = open_snapshot(snapshot)?;
        let staging = sibling(data_dir, RESTORING_SUFFIX)?;
        let parent = parent_dir(data_dir);
        fs::create_dir_all(&parent).map_err(io_step("create", &parent))?;
        fs::create_dir(&staging).map_err(io_step("create", &staging))?;
        let result = restore_into(snapshot, &mut file, &trailer, &staging);
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        // rename(2) replaces an empty directory; `data_dir` was checked empty above.
        if let Err(e) = fs::rename(&staging, data_dir) {
            let _ = fs::remove_dir_all(&staging);
            return Err(io_step("rename into place", data_dir)(e));
        }
        sync_dir(&parent)?;
        Ok(trailer.status())
    }

    /// Defragments the database of a data directory that no process has open
    /// (`etcdutl defrag`): redb moves live pages to the front of the file and truncates the
    /// free tail, returning the space that deletes and compactions freed to the filesystem.
    ///
    /// An associated function on a directory, not a method: redb compacts only with exclusive
    /// access to the database, so the store must be stopped.
    ///
    /// # Guarantees
    /// The state hash is the same before and after (checked). redb compacts in crash-safe
    /// commits: a crash leaves the database as before or as after a pass.
    ///
    /// # Errors
    /// [`SnapshotError::NoDatabase`] for a directory without `skiff.redb`; a redb error
    /// (`Database already open`) when a store has it open.
    pub fn defrag(data_dir: &Path) -> Result<DefragReport, SnapshotError> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(SnapshotError::NoDatabase { path });
        }
        let size_before_bytes = file_len(&path)?;
        let mut db = Database::builder()
            .open(&path)
            .map_err(redb_step("open the database"))?;
        check_tail(
            &db,
            &crate::store::stored_kinds(&db, &KindRegistry::builtin())?,
        )?;
        let before = status_of(&db.begin_read().map_err(ReadError::from)?)?;
        let mut passes = 0;
        while db.compact().map_err(redb_step("compact the database"))? {
            passes += 1;
            if passes == DEFRAG_PASSES_MAX {
                break;
            }
        }
        let after = status_of(&db.begin_read().map_err(ReadError::from)?)?;
        db.close().map_err(redb_step("close the database"))?;
        if after != before {
            return Err(StoreError::Corrupt {
                what: "projection",
                revision: after.revision.0,
                reason: format!("defrag changed the status from {before:?} to {after:?}"),
            }
            .into());
        }
        Ok(DefragReport {
            status: after,
            size_before_bytes,
            size_after_bytes: file_len(&path)?,
        })
    }
}

/// Writes the snapshot of `read` (whose status is `status`) to `part`.
fn write_snapshot(
    read: &ReadTransaction,
    status: &Status,
    part: &Path,
) -> Result<(), SnapshotError> {
    let mut db = Database::builder()
        .create(part)
        .map_err(redb_step("create the snapshot database"))?;
    let mut write = db
        .begin_write()
        .map_err(redb_step("begin the snapshot's transaction"))?;
    write
        .set_durability(Durability::Immediate)
        .map_err(redb_step("set durability of the snapshot's transaction"))?;
    copy_tables(read, &write)?;
    write
        .commit()
        .map_err(redb_step("commit the snapshot's transaction"))?;
    // Pair check: the copy is what was read.
    let copied = status_of(&db.begin_read().map_err(ReadError::from)?)?;
    if copied != *status {
        return Err(SnapshotError::Corrupt {
            path: part.to_path_buf(),
            reason: format!("copy has status {copied:?}, the store had {status:?}"),
        });
    }
    // The copy was written in one transaction; compaction packs what that left free.
    let mut passes = 0;
    while db
        .compact()
        .map_err(redb_step("compact the snapshot database"))?
    {
        passes += 1;
        if passes == DEFRAG_PASSES_MAX {
            break;
        }
    }
    db.close()
        .map_err(redb_step("close the snapshot database"))?;

    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(part)
        .map_err(io_step("open", part))?;
    let image_bytes = file.metadata().map_err(io_step("inspect", part))?.len();
    let image_crc = crc_of_prefix(&mut file, part, image_bytes, None)?;
    let trailer = Trailer {
        revision: status.revision.0,
        compacted: status.compacted.0,
        events: status.events,
        keys: status.keys,
        hash: status.hash,
        image_bytes,
        image_crc,
    };
    file.seek(SeekFrom::End(0))
        .map_err(io_step("write", part))?;
    file.write_all(&trailer.encode())
        .map_err(io_step("write", part))?;
    file.sync_all().map_err(io_step("fsync", part))?;
    Ok(())
}

/// Copies the snapshot's database into `staging`, checking its checksum on the way, then
/// checks the copy's state against the trailer and the log.
fn restore_into(
    snapshot: &Path,
    file: &mut File,
    trailer: &Trailer,
    staging: &Path,
) -> Result<(), SnapshotError> {
    let db_path = staging.join(DB_FILE);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&db_path)
        .map_err(io_step("create", &db_path))?;
    let computed = crc_of_prefix(
        file,
        snapshot,
        trailer.image_bytes,
        Some((&mut out, &db_path)),
    )?;
    check_image_crc(snapshot, trailer, computed)?;
    out.sync_all().map_err(io_step("fsync", &db_path))?;
    drop(out);

    let db = Database::builder()
        .open(&db_path)
        .map_err(redb_step("open the restored database"))?;
    // The kinds the snapshot's data defines (crate::store::KIND_DEFINITIONS_PREFIX): its
    // custom objects decode without the embedder's registry.
    let kinds = crate::store::stored_kinds(&db, &KindRegistry::builtin())?;
    check_tail(&db, &kinds)?;
    let restored = status_of(&db.begin_read().map_err(ReadError::from)?)?;
    if restored != trailer.status() {
        return Err(SnapshotError::Corrupt {
            path: snapshot.to_path_buf(),
            reason: format!(
                "restored state {restored:?} differs from the recorded {:?}",
                trailer.status()
            ),
        });
    }
    let store = offline_store(db, kinds);
    store.verify()?;
    drop(store);
    sync_dir(staging)
}
