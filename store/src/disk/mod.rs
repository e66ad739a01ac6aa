//! Disks that lose power: a crash-faithful redb `StorageBackend` for the simulator, and
//! crash-atomic database creation for real files and simulated ones.
//!
//! # The model
//!
//! A [`SimDisk`] is owned by the test harness, not by the node that uses it, so it outlives
//! every simulated restart. Each of its files has
//! - a **durable** image: what survives a power loss;
//! - a **volatile** image: what reads see, the durable image plus every accepted write;
//! - the **pending log**: the writes and `set_len`s since the file's last `sync_data`, in order.
//!
//! `sync_data` applies exactly the pending log to the durable image. It never copies the whole
//! image: a copying version took 65 s for ~29k commits (storage.md §4). A power loss
//! ([`SimDisk::crash`], [`SimDisk::crash_torn`], or an operation armed with
//! [`SimDisk::arm_crash_after`]) resets the volatile image to the durable one, after letting none
//! or a seeded subset of the pending log land, torn at [`SECTOR_BYTES`] boundaries.
//!
//! Mid-commit crashes must be injected here: redb's I/O is synchronous, so a madsim kill, which
//! lands only at an `.await`, can never interrupt a commit (madsim.md §7).
//!
//! # Generations
//!
//! Every power loss starts a new [`Generation`], and every [`SimDiskBackend`] is bound to the one
//! it was handed out in. After a power loss the dying `Database` still exists and its `Drop`
//! still writes; those calls fail and change nothing, so they cannot reach the image that the
//! restarted node opens.
//!
//! # What redb promises on such a disk (storage.md §4)
//!
//! - A commit with `Durability::Immediate` that returned `Ok` survives any power loss; a
//!   `Durability::None` commit is persisted only by a later `Immediate` one.
//! - After a power loss the database reopens at a committed state; one whose commit returned an
//!   error other than `TransactionPoisoned` may or may not be there. skiff-store reopens rather
//!   than guesses.
//! - Creation is the exception: see [`create_database_atomically`].
//!
//! # Example
//!
//! ```
//! use redb::{Builder, ReadableDatabase, TableDefinition};
//! use skiff_store::disk::SimDisk;
//!
//! const T: TableDefinition<u64, u64> = TableDefinition::new("t");
//!
//! let disk = SimDisk::new(); // the harness keeps this across restarts
//! let db = disk.create_database_atomically(&Builder::new())?;
//! let txn = db.begin_write()?;
//! txn.open_table(T)?.insert(1, 10)?;
//! txn.commit()?; // Immediate: acknowledged after the sync
//!
//! disk.crash(); // power loss; `db` is now a zombie whose I/O is refused
//! drop(db);
//! let db = disk.create_database_atomically(&Builder::new())?;
//! assert_eq!(db.begin_read()?.open_table(T)?.get(1)?.map(|v| v.value()), Some(10));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod create;

mod sim;

pub use create::{CREATING_SUFFIX, CreateDatabaseError, create_database_atomically};
pub use sim::{
    CrashReport, DiskCounters, DiskViolation, Generation, IMAGE_BYTES_MAX, PowerLoss, SECTOR_BYTES,
    SIMULATED_POWER_LOSS, SimDisk, SimDiskBackend,
};
pub use skiff_core::rng::SplitMix64;
