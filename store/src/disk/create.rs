//! Crash-atomic creation of a redb database, on a real filesystem and on a [`SimDisk`].
//!
//! redb's own creation is not crash-atomic: a power loss during the first
//! `create_with_backend`, with 73,728 bytes synced, left a file that never opens again
//! (`Not a redb database: magic number mismatch`; madsim.md §7, storage.md §4). A file only
//! ever appears under its final name complete, synced and committed, so a crash leaves either
//! no database (creation starts over) or a valid empty one.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use redb::{Builder, Database, Durability};

use super::sim::SimDisk;

/// Suffix of the temporary file next to the database while it is created.
///
/// A fixed name, not a random one: at most one creation runs per path, and a leftover from a
/// crashed creation is garbage that the next creation removes.
pub const CREATING_SUFFIX: &str = ".creating";

/// Why [`create_database_atomically`] or [`SimDisk::create_database_atomically`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateDatabaseError {
    /// A filesystem step failed.
    #[error("cannot {step} {}", path.display())]
    Io {
        /// What was being done, e.g. `rename into place`.
        step: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// redb failed to create, commit, close or open the database.
    #[error("cannot {step} the database")]
    Redb {
        /// What was being done, e.g. `commit the initial transaction of`.
        step: &'static str,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// The path has no file name to derive the temporary name from.
    #[error("database path {} has no file name", path.display())]
    NoFileName {
        /// The path given.
        path: PathBuf,
    },
    /// The sim disk lost power while installing the scratch image.
    #[error("cannot install the scratch image on the sim disk")]
    Install {
        /// The cause, whose message mentions `simulated power loss`.
        #[source]
        source: io::Error,
    },
}

fn redb_step<E: Into<redb::Error>>(step: &'static str) -> impl FnOnce(E) -> CreateDatabaseError {
    move |source| CreateDatabaseError::Redb {
        step,
        source: source.into(),
    }
}

fn io_step(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CreateDatabaseError {
    let path = path.to_path_buf();
    move |source| CreateDatabaseError::Io { step, path, source }
}

/// Commits one empty `Immediate` transaction, so that the new file holds a durable commit
/// and not only the header redb writes on creation, then closes the database.
fn commit_initial_and_close(db: Database) -> Result<(), CreateDatabaseError> {
    let mut txn = db
        .begin_write()
        .map_err(redb_step("begin the initial transaction of"))?;
    txn.set_durability(Durability::Immediate)
        .map_err(redb_step("set durability of the initial transaction of"))?;
    txn.commit()
        .map_err(redb_step("commit the initial transaction of"))?;
    db.close().map_err(redb_step("close the new"))
}

/// Opens the redb database at `path`, creating it crash-atomically if no file is there.
///
/// Creation builds the database under `<path>.creating` in the same directory, commits an
/// initial `Immediate` transaction, closes it, fsyncs the file, renames it into place and
/// fsyncs the directory, then opens it under its final name.
///
/// # Guarantees
/// A power loss at any point leaves `path` either absent or a complete database with one
/// committed transaction, never a partial file (which redb cannot open: `magic number
/// mismatch`). A leftover temporary file is removed by the next call.
///
/// # Assumptions
/// One process creates a given path at a time. The filesystem makes a rename durable once
/// its directory is fsynced (POSIX; ext4, xfs, btrfs). On non-Unix platforms the directory
/// fsync is skipped.
///
/// # Errors
/// [`CreateDatabaseError::NoFileName`] for a path such as `/`; [`CreateDatabaseError::Io`] when
/// a filesystem step fails (including a missing parent directory);
/// [`CreateDatabaseError::Redb`] when redb fails, including an existing file that is not a
/// database.
pub fn create_database_atomically(
    path: &Path,
    builder: &Builder,
) -> Result<Database, CreateDatabaseError> {
    match fs::symlink_metadata(path) {
        Ok(_) => return builder.open(path).map_err(redb_step("open")),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_step("inspect", path)(err)),
    }
    let Some(file_name) = path.file_name() else {
        return Err(CreateDatabaseError::NoFileName {
            path: path.to_path_buf(),
        });
    };
    let mut temp_name = file_name.to_os_string();
    temp_name.push(CREATING_SUFFIX);
    let temp = path.with_file_name(temp_name);
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };

    match fs::remove_file(&temp) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_step("remove stale temporary file", &temp)(err)),
    }
    let db = builder.create(&temp).map_err(redb_step("create"))?;
    commit_initial_and_close(db)?;
    // fsync, not only redb's fdatasync: the file's size and metadata must be durable before
    // the name points at it.
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(&temp)
        .and_then(|file| file.sync_all())
        .map_err(io_step("fsync temporary file", &temp))?;
    fs::rename(&temp, path).map_err(io_step("rename into place", path))?;
    sync_dir(&dir).map_err(io_step("fsync directory", &dir))?;
    builder.open(path).map_err(redb_step("open the new"))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Windows cannot open a directory as a file; NTFS journals the rename itself.
    Ok(())
}

impl SimDisk {
    /// Opens the database on the main file, creating it crash-atomically if the file is empty:
    /// the simulator's counterpart of [`create_database_atomically`].
    ///
    /// Creation discards the scratch file, builds the database on it (initial `Immediate`
    /// commit, close, sync), then installs it over the main file in one step (rename plus
    /// directory fsync), then opens the main file. Every I/O of the scratch file and the install
    /// count against [`SimDisk::arm_crash_after`], so tests can lose power at each of them.
    ///
    /// # Guarantees
    /// A power loss at any point leaves the main file either empty (no database: call again) or
    /// a complete database with one committed transaction.
    ///
    /// # Errors
    /// [`CreateDatabaseError::Redb`] when redb fails, including on an I/O error of a simulated
    /// power loss or a main file that is not a database; [`CreateDatabaseError::Install`] when
    /// power is lost at the install.
    pub fn create_database_atomically(
        &self,
        builder: &Builder,
    ) -> Result<Database, CreateDatabaseError> {
        if self.volatile_len() > 0 {
            return builder
                .create_with_backend(self.backend())
                .map_err(redb_step("open"));
        }
        self.discard_scratch();
        let scratch = self.scratch_backend();
        let scratch_for_sync = self.scratch_backend();
        let generation = scratch.generation();
        let db = builder
            .create_with_backend(scratch)
            .map_err(redb_step("create"))?;
        commit_initial_and_close(db)?;
        // redb synced its commit; sync again, as the file path fsyncs the temporary file,
        // so that nothing written by close is left pending.
        redb::StorageBackend::sync_data(&scratch_for_sync)
            .map_err(|source| CreateDatabaseError::Install { source })?;
        self.install_scratch(generation)
            .map_err(|source| CreateDatabaseError::Install { source })?;
        builder
            .create_with_backend(self.backend())
            .map_err(redb_step("open the new"))
    }
}
