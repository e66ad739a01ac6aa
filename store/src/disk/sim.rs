//! [`SimDisk`]: an in-memory disk with a durable and a volatile image, and power loss.
//!
//! See the [module documentation](super) for the model.

use std::fmt;
use std::io;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard};

use skiff_core::rng::SplitMix64;

/// The message of every I/O error that a simulated power loss causes: the error of the armed
/// operation and the errors of every handle of an older [`Generation`].
///
/// A simulator can restart a node whose panic message contains it (madsim's
/// `restart_on_panic_matching`).
pub const SIMULATED_POWER_LOSS: &str = "simulated power loss";

/// The unit a torn write is cut into: a disk sector.
///
/// A torn crash keeps or loses each 512-byte-aligned piece of an unsynced write as a whole, and
/// never tears inside one. redb states its assumptions as "single-byte writes are atomic" and
/// "powersafe overwrite" (storage.md §4): writing a sector never damages its neighbours, and a
/// sector lands whole or not at all on every drive that advertises 512-byte or larger atomic
/// writes. Tearing at arbitrary bytes would test a disk that redb documents it does not support.
pub const SECTOR_BYTES: u64 = 512;

/// The largest image a [`SimDisk`] file may grow to; beyond it `set_len` and `write` fail with
/// [`io::ErrorKind::StorageFull`].
///
/// A simulated node's database holds a test workload (kilobytes to a few hundred megabytes); an
/// image past 1 GiB is a runaway loop, and failing beats exhausting the test machine's memory.
pub const IMAGE_BYTES_MAX: u64 = 1 << 30;

/// A count of power losses: every [`SimDiskBackend`] is bound to the generation in which it was
/// handed out, and a power loss starts the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

/// What a power loss does to the writes and `set_len`s made since a file's last `sync_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLoss {
    /// None of them reach the durable image.
    DropUnsynced,
    /// All of them that were accepted reach it, as if the drive flushed its cache just before
    /// the power failed: the commit whose sync failed is durable although it was never
    /// acknowledged. (An operation that failed because an armed crash fired does not land.)
    KeepUnsynced,
    /// A subset chosen from `seed` reaches it, in issue order: each `set_len` lands or not; each
    /// write is lost, lands whole, or is torn into [`SECTOR_BYTES`] pieces of which each lands or
    /// not. A write that was in flight when an armed crash fired is one of them.
    TearUnsynced {
        /// Seeds the choice; the same seed on the same pending log gives the same image.
        seed: u64,
    },
}

/// Totals of the I/O a [`SimDisk`] has seen, over all generations and both files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskCounters {
    /// `read` calls served.
    pub reads: u64,
    /// Bytes returned by `read`.
    pub read_bytes: u64,
    /// `write` calls accepted, including one that triggered an armed crash.
    pub writes: u64,
    /// Bytes passed to `write`.
    pub written_bytes: u64,
    /// `set_len` calls accepted, including one that triggered an armed crash.
    pub set_lens: u64,
    /// `sync_data` calls accepted, including one that triggered an armed crash.
    pub syncs: u64,
    /// Pending writes and `set_len`s that `sync_data` applied to a durable image.
    pub synced_ops: u64,
    /// Power losses of any kind (equals the current [`Generation`]).
    pub crashes: u64,
    /// Power losses that tore unsynced writes.
    pub torn_crashes: u64,
    /// Power losses caused by an armed operation.
    pub armed_crashes: u64,
    /// Calls refused because their handle belongs to an older generation.
    pub stale_calls: u64,
    /// Scratch images renamed into place by atomic creation.
    pub installs: u64,
}

/// What one power loss did to the unsynced operations of both files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// The generation the power loss started.
    pub generation: Generation,
    /// Unsynced writes and `set_len`s at the moment of the power loss.
    pub pending_ops: u64,
    /// Of those, the ones that landed whole.
    pub kept_ops: u64,
    /// Of those, the writes that were torn into sectors (each sector landing or not).
    pub torn_ops: u64,
    /// Of those, the ones that were lost.
    pub dropped_ops: u64,
}

/// A broken invariant of a [`SimDisk`]'s own state, found by [`SimDisk::check_invariants`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiskViolation {
    /// Only a power loss bumps the generation.
    #[error("generation {generation} differs from the {crashes} power losses counted")]
    GenerationNotCrashCount {
        /// The current generation.
        generation: u64,
        /// The power losses counted.
        crashes: u64,
    },
    /// The volatile image must be the durable one with the pending log applied.
    #[error(
        "{file} file: volatile length {volatile_len} differs from durable length {durable_len} \
         replayed through {pending_ops} pending ops ({replayed_len})"
    )]
    VolatileLength {
        /// `main` or `scratch`.
        file: &'static str,
        /// Length of the volatile image.
        volatile_len: u64,
        /// Length of the durable image.
        durable_len: u64,
        /// Length after replaying the pending log over the durable image.
        replayed_len: u64,
        /// Entries in the pending log.
        pending_ops: u64,
    },
    /// Found only by [`SimDisk::check_invariants_deep`].
    #[error(
        "{file} file: volatile byte at {offset} differs from the durable image replayed through \
         the pending log"
    )]
    VolatileBytes {
        /// `main` or `scratch`.
        file: &'static str,
        /// The first differing offset.
        offset: u64,
    },
    /// An armed crash fires on its n-th operation, n ≥ 1, and is then disarmed.
    #[error("an armed crash is waiting for 0 operations")]
    ArmedAtZero,
}

/// One of the two files of a [`SimDisk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileSlot {
    /// The database file.
    Main,
    /// The temporary file in which atomic creation builds a database before renaming it.
    Scratch,
}

impl FileSlot {
    const fn name(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Scratch => "scratch",
        }
    }
}

/// An operation not yet made durable.
#[derive(Debug, Clone)]
enum PendingOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen { len: u64 },
}

/// One file: durable bytes, volatile bytes, and the log between them.
#[derive(Debug, Default, Clone)]
struct Image {
    /// What a power loss with [`PowerLoss::DropUnsynced`] leaves.
    durable: Vec<u8>,
    /// What reads see: `durable` with `pending` applied in order.
    volatile: Vec<u8>,
    /// Writes and `set_len`s since the last `sync_data`, in issue order.
    pending: Vec<PendingOp>,
}

/// Converts an offset or length that [`check_extent`] has bounded by [`IMAGE_BYTES_MAX`].
fn index(value: u64) -> usize {
    usize::try_from(value).expect("offsets are bounded by IMAGE_BYTES_MAX, which fits in usize")
}

/// The offset one past `len` bytes at `offset`, if the image may hold it.
fn check_extent(offset: u64, len: u64) -> io::Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= IMAGE_BYTES_MAX => Ok(end),
        _ => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("extent {offset}+{len} exceeds the sim disk image bound {IMAGE_BYTES_MAX}"),
        )),
    }
}

fn write_at(target: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = index(offset);
    let end = start + data.len();
    if target.len() < end {
        // Like a sparse file: a write past the end zero-fills the gap.
        target.resize(end, 0);
    }
    target[start..end].copy_from_slice(data);
}

fn apply(target: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write { offset, data } => write_at(target, *offset, data),
        PendingOp::SetLen { len } => target.resize(index(*len), 0),
    }
}

/// The length `durable_len` becomes after `pending` (no bytes copied).
fn replayed_len(durable_len: u64, pending: &[PendingOp]) -> u64 {
    pending.iter().fold(durable_len, |len, op| match op {
        PendingOp::Write { offset, data } => len.max(offset + data.len() as u64),
        PendingOp::SetLen { len } => *len,
    })
}

impl Image {
    /// Applies an accepted operation to the volatile image and logs it.
    fn push(&mut self, op: PendingOp) {
        apply(&mut self.volatile, &op);
        self.pending.push(op);
    }

    /// Makes the pending log durable: applies only the logged operations, never copies the
    /// image (copying took 65 s for ~29k commits, storage.md §4). Returns how many it applied.
    fn sync(&mut self) -> u64 {
        let applied = self.pending.len() as u64;
        for op in self.pending.drain(..) {
            apply(&mut self.durable, &op);
        }
        applied
    }

    /// Loses power: the durable image keeps what `fate` lets through, and the volatile image
    /// becomes the durable one.
    fn lose_power(&mut self, fate: &mut PendingFate, report: &mut CrashReport) {
        let pending = mem::take(&mut self.pending);
        report.pending_ops += pending.len() as u64;
        for op in &pending {
            let rng = match fate {
                PendingFate::Drop => {
                    report.dropped_ops += 1;
                    continue;
                }
                PendingFate::Keep => {
                    apply(&mut self.durable, op);
                    report.kept_ops += 1;
                    continue;
                }
                PendingFate::Tear(rng) => rng,
            };
            match op {
                PendingOp::SetLen { .. } => {
                    if rng.chance(1, 2) {
                        apply(&mut self.durable, op);
                        report.kept_ops += 1;
                    } else {
                        report.dropped_ops += 1;
                    }
                }
                PendingOp::Write { offset, data } => match rng.below(3) {
                    0 => report.dropped_ops += 1,
                    1 => {
                        apply(&mut self.durable, op);
                        report.kept_ops += 1;
                    }
                    _ => {
                        tear_write(&mut self.durable, *offset, data, rng);
                        report.torn_ops += 1;
                    }
                },
            }
        }
        // One copy per power loss (rare), unlike per sync.
        self.volatile.clone_from(&self.durable);
    }

    fn check(&self, file: FileSlot, deep: bool) -> Result<(), DiskViolation> {
        let durable_len = self.durable.len() as u64;
        let replayed = replayed_len(durable_len, &self.pending);
        let volatile_len = self.volatile.len() as u64;
        if replayed != volatile_len {
            return Err(DiskViolation::VolatileLength {
                file: file.name(),
                volatile_len,
                durable_len,
                replayed_len: replayed,
                pending_ops: self.pending.len() as u64,
            });
        }
        if deep {
            let mut model = self.durable.clone();
            for op in &self.pending {
                apply(&mut model, op);
            }
            if let Some(offset) = model.iter().zip(&self.volatile).position(|(a, b)| a != b) {
                return Err(DiskViolation::VolatileBytes {
                    file: file.name(),
                    offset: offset as u64,
                });
            }
        }
        Ok(())
    }
}

/// What a power loss does to each pending operation.
enum PendingFate {
    Drop,
    Keep,
    Tear(SplitMix64),
}

/// Applies each [`SECTOR_BYTES`]-aligned piece of a write with probability 1/2.
fn tear_write(target: &mut Vec<u8>, offset: u64, data: &[u8], rng: &mut SplitMix64) {
    let end = offset + data.len() as u64;
    let mut start = offset;
    while start < end {
        let piece_end = ((start / SECTOR_BYTES + 1) * SECTOR_BYTES).min(end);
        if rng.chance(1, 2) {
            let from = index(start - offset);
            let to = index(piece_end - offset);
            write_at(target, start, &data[from..to]);
        }
        start = piece_end;
    }
}

/// A crash waiting for its operation.
#[derive(Debug, Clone, Copy)]
struct Armed {
    /// Counted operations still to come, the last of which fails; always ≥ 1.
    remaining_ops: u64,
    power_loss: PowerLoss,
}

#[derive(Debug, Default)]
struct DiskState {
    main: Image,
    scratch: Image,
    generation: Generation,
    armed: Option<Armed>,
    counters: DiskCounters,
}

fn power_loss_error() -> io::Error {
    io::Error::other(SIMULATED_POWER_LOSS)
}

impl DiskState {
    fn image_mut(&mut self, file: FileSlot) -> &mut Image {
        match file {
            FileSlot::Main => &mut self.main,
            FileSlot::Scratch => &mut self.scratch,
        }
    }

    fn image(&self, file: FileSlot) -> &Image {
        match file {
            FileSlot::Main => &self.main,
            FileSlot::Scratch => &self.scratch,
        }
    }

    /// Refuses a handle of an older generation: its node lost power, and its I/O must not
    /// touch the image that the next generation sees.
    fn admit(&mut self, generation: Generation) -> io::Result<()> {
        assert!(
            generation <= self.generation,
            "handle generation {generation:?} is ahead of the disk at {:?}",
            self.generation
        );
        if generation == self.generation {
            return Ok(());
        }
        self.counters.stale_calls += 1;
        Err(io::Error::other(format!(
            "{SIMULATED_POWER_LOSS}: handle of generation {} is stale, the disk is at generation {}",
            generation.0, self.generation.0
        )))
    }

    /// Counts one write, `set_len`, sync or install against an armed crash; `true` when this
    /// operation is the one that must fail.
    fn armed_fires(&mut self) -> bool {
        let Some(armed) = &mut self.armed else {
            return false;
        };
        assert!(
            armed.remaining_ops >= 1,
            "armed crash waiting for 0 operations"
        );
        armed.remaining_ops -= 1;
        armed.remaining_ops == 0
    }

    /// Fires the armed crash on `in_flight` (the write or `set_len` being issued, if any).
    fn fire_armed(&mut self, file: FileSlot, in_flight: Option<PendingOp>) -> io::Error {
        let armed = self
            .armed
            .take()
            .expect("fire_armed is called only when armed");
        if let (PowerLoss::TearUnsynced { .. }, Some(op)) = (armed.power_loss, in_flight) {
            // Power failed while the drive held this operation: it may land, partly or whole.
            self.image_mut(file).pending.push(op);
        }
        self.counters.armed_crashes += 1;
        self.lose_power(armed.power_loss);
        power_loss_error()
    }

    fn lose_power(&mut self, power_loss: PowerLoss) -> CrashReport {
        self.generation = Generation(self.generation.0 + 1);
        self.counters.crashes += 1;
        // A pending crash belongs to the node that just died.
        self.armed = None;
        let mut report = CrashReport {
            generation: self.generation,
            ..CrashReport::default()
        };
        let mut fate = match power_loss {
            PowerLoss::DropUnsynced => PendingFate::Drop,
            PowerLoss::KeepUnsynced => PendingFate::Keep,
            PowerLoss::TearUnsynced { seed } => {
                self.counters.torn_crashes += 1;
                PendingFate::Tear(SplitMix64::new(seed))
            }
        };
        self.main.lose_power(&mut fate, &mut report);
        self.scratch.lose_power(&mut fate, &mut report);
        assert_eq!(
            report.pending_ops,
            report.kept_ops + report.torn_ops + report.dropped_ops,
            "every pending op is kept, torn or dropped"
        );
        report
    }

    fn check(&self, deep: bool) -> Result<(), DiskViolation> {
        if self.generation.0 != self.counters.crashes {
            return Err(DiskViolation::GenerationNotCrashCount {
                generation: self.generation.0,
                crashes: self.counters.crashes,
            });
        }
        if let Some(armed) = self.armed
            && armed.remaining_ops == 0
        {
            return Err(DiskViolation::ArmedAtZero);
        }
        self.main.check(FileSlot::Main, deep)?;
        self.scratch.check(FileSlot::Scratch, deep)
    }
}

/// An in-memory disk that loses power: the harness owns it, so it outlives every simulated
/// restart of the node that uses it. Cloning shares the same disk.
///
/// It holds two files: `main`, the database that [`SimDisk::backend`] serves, and a scratch file
/// that [`SimDisk::create_database_atomically`](SimDisk::create_database_atomically) uses the way
/// [`create_database_atomically`](super::create_database_atomically) uses a temporary file.
///
/// # Guarantees
/// - A write or `set_len` reaches the durable image only through a `sync_data` of its file or a
///   torn power loss; `sync_data` applies exactly the log since the previous one.
/// - After a power loss, every handle handed out before it fails every call except `close`
///   with an error mentioning [`SIMULATED_POWER_LOSS`], and changes nothing.
/// - Every random choice comes from the seed passed in; no clock, thread or global is read.
///
/// # Assumptions
/// One open `Database` per generation: the backend implements no locks, so redb runs in its
/// default `ExclusiveWriter` mode without them. Drop a database, or crash the disk, before
/// opening the next one.
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SimDisk")
            .field("generation", &state.generation)
            .field("durable_len", &state.main.durable.len())
            .field("volatile_len", &state.main.volatile.len())
            .field("pending_ops", &state.main.pending.len())
            .field("armed", &state.armed)
            .finish_non_exhaustive()
    }
}

impl SimDisk {
    /// An empty disk at generation 0: both files have length 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state
            .lock()
            .expect("sim disk mutex poisoned: a panic happened while it was held")
    }

    /// A `redb::StorageBackend` over the main file, bound to the current generation.
    pub fn backend(&self) -> SimDiskBackend {
        self.backend_of(FileSlot::Main)
    }

    pub(crate) fn scratch_backend(&self) -> SimDiskBackend {
        self.backend_of(FileSlot::Scratch)
    }

    fn backend_of(&self, file: FileSlot) -> SimDiskBackend {
        SimDiskBackend {
            state: Arc::clone(&self.state),
            generation: self.generation(),
            file,
        }
    }

    /// The current generation: the number of power losses so far.
    pub fn generation(&self) -> Generation {
        self.lock().generation
    }

    /// Power loss: every unsynced write and `set_len` is lost, and all handles go stale.
    /// Clears an armed crash.
    pub fn crash(&self) -> CrashReport {
        self.power_loss(PowerLoss::DropUnsynced)
    }

    /// Power loss that lets a subset of the unsynced writes land, some of them torn (see
    /// [`PowerLoss::TearUnsynced`]); all handles go stale. Clears an armed crash.
    pub fn crash_torn(&self, seed: u64) -> CrashReport {
        self.power_loss(PowerLoss::TearUnsynced { seed })
    }

    /// Power loss of the given kind; all handles go stale. Clears an armed crash.
    pub fn power_loss(&self, power_loss: PowerLoss) -> CrashReport {
        self.lock().lose_power(power_loss)
    }

    /// Arms a power loss on the `ops`-th following write, `set_len`, `sync_data` or scratch
    /// install (1 = the next one), on either file. That operation fails with an error whose
    /// message is [`SIMULATED_POWER_LOSS`] and does not take effect (except as an unsynced,
    /// possibly torn write under [`PowerLoss::TearUnsynced`]); the disk has lost power when the
    /// error is returned. Reads and `len` are not counted. Replaces an earlier armed crash.
    ///
    /// # Panics
    /// If `ops` is 0.
    pub fn arm_crash_after(&self, ops: u64, power_loss: PowerLoss) {
        assert!(
            ops >= 1,
            "arm_crash_after(0): the first following operation is 1"
        );
        self.lock().armed = Some(Armed {
            remaining_ops: ops,
            power_loss,
        });
    }

    /// Removes an armed crash; `true` if one was waiting.
    pub fn disarm(&self) -> bool {
        self.lock().armed.take().is_some()
    }

    /// `true` while an armed crash has not fired.
    pub fn is_armed(&self) -> bool {
        self.lock().armed.is_some()
    }

    /// Totals of the I/O seen so far.
    pub fn counters(&self) -> DiskCounters {
        self.lock().counters
    }

    /// Length of the main file's durable image.
    pub fn durable_len(&self) -> u64 {
        self.lock().main.durable.len() as u64
    }

    /// Length of the main file as reads see it.
    pub fn volatile_len(&self) -> u64 {
        self.lock().main.volatile.len() as u64
    }

    /// Unsynced writes and `set_len`s of the main file.
    pub fn pending_ops(&self) -> u64 {
        self.lock().main.pending.len() as u64
    }

    /// A copy of the main file's durable image: what a [`PowerLoss::DropUnsynced`] would leave.
    pub fn durable_image(&self) -> Vec<u8> {
        self.lock().main.durable.clone()
    }

    /// A copy of the main file as reads see it.
    pub fn volatile_image(&self) -> Vec<u8> {
        self.lock().main.volatile.clone()
    }

    /// Checks the cheap invariants: generation equals the power losses counted, each volatile
    /// length equals its durable length replayed through the pending log, an armed crash waits
    /// for at least one operation.
    ///
    /// # Errors
    /// The first [`DiskViolation`] found: a bug in `SimDisk`, never a fault it simulates.
    pub fn check_invariants(&self) -> Result<(), DiskViolation> {
        self.lock().check(false)
    }

    /// [`Self::check_invariants`], plus each volatile image compared byte for byte with its
    /// durable image replayed through the pending log: O(image), for tests.
    pub fn check_invariants_deep(&self) -> Result<(), DiskViolation> {
        self.lock().check(true)
    }

    /// Discards the scratch file, as removing a stale temporary file would. Not an armed
    /// operation: losing it is harmless, the scratch file is garbage until installed.
    pub(crate) fn discard_scratch(&self) {
        self.lock().scratch = Image::default();
    }

    /// Renames the scratch file over the main file and makes the rename durable, in one step:
    /// what `rename` plus a directory fsync give on a real filesystem. The scratch file must be
    /// synced. Counted as one armed operation; a crash there leaves the main file unchanged.
    pub(crate) fn install_scratch(&self, generation: Generation) -> io::Result<()> {
        let mut state = self.lock();
        state.admit(generation)?;
        if state.armed_fires() {
            return Err(state.fire_armed(FileSlot::Scratch, None));
        }
        assert!(
            state.scratch.pending.is_empty(),
            "install of a scratch file with {} unsynced ops",
            state.scratch.pending.len()
        );
        state.main = mem::take(&mut state.scratch);
        state.counters.installs += 1;
        Ok(())
    }
}

/// A `redb::StorageBackend` over one file of a [`SimDisk`], bound to the generation in which
/// it was handed out.
///
/// # Guarantees
/// While its generation is current: reads see every accepted write (the volatile image),
/// `set_len` zero-fills growth, and `sync_data` makes every earlier accepted write and `set_len`
/// of its file durable. Once a power loss has started a newer generation: every call but
/// `close` fails with an error that mentions [`SIMULATED_POWER_LOSS`] and changes nothing.
///
/// # Errors
/// Besides the two above, `read` past the end fails with [`io::ErrorKind::UnexpectedEof`], and
/// an extent past [`IMAGE_BYTES_MAX`] with [`io::ErrorKind::StorageFull`].
pub struct SimDiskBackend {
    state: Arc<Mutex<DiskState>>,
    generation: Generation,
    file: FileSlot,
}

impl fmt::Debug for SimDiskBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDiskBackend")
            .field("generation", &self.generation)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl SimDiskBackend {
    /// The generation this handle is bound to.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state
            .lock()
            .expect("sim disk mutex poisoned: a panic happened while it was held")
    }

    /// Runs one counted operation: admit, count against an armed crash, then apply.
    fn mutate(&self, op: PendingOp) -> io::Result<()> {
        let mut state = self.lock();
        state.admit(self.generation)?;
        match &op {
            PendingOp::Write { offset, data } => {
                check_extent(*offset, data.len() as u64)?;
                state.counters.writes += 1;
                state.counters.written_bytes += data.len() as u64;
            }
            PendingOp::SetLen { len } => {
                check_extent(*len, 0)?;
                state.counters.set_lens += 1;
            }
        }
        if state.armed_fires() {
            return Err(state.fire_armed(self.file, Some(op)));
        }
        state.image_mut(self.file).push(op);
        Ok(())
    }
}

impl redb::StorageBackend for SimDiskBackend {
    fn len(&self) -> io::Result<u64> {
        let mut state = self.lock();
        state.admit(self.generation)?;
        Ok(state.image(self.file).volatile.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut state = self.lock();
        state.admit(self.generation)?;
        let volatile = &state.image(self.file).volatile;
        let end = offset.checked_add(out.len() as u64);
        match end {
            Some(end) if end <= volatile.len() as u64 => {
                out.copy_from_slice(&volatile[index(offset)..index(end)]);
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at {offset} past the end {} of the {} file",
                        out.len(),
                        volatile.len(),
                        self.file.name()
                    ),
                ));
            }
        }
        state.counters.reads += 1;
        state.counters.read_bytes += out.len() as u64;
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.mutate(PendingOp::SetLen { len })
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.admit(self.generation)?;
        state.counters.syncs += 1;
        if state.armed_fires() {
            return Err(state.fire_armed(self.file, None));
        }
        let applied = state.image_mut(self.file).sync();
        state.counters.synced_ops += applied;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.mutate(PendingOp::Write {
            offset,
            data: data.to_vec(),
        })
    }

    fn close(&self) -> io::Result<()> {
        // Nothing to release: no locks, no descriptors. A stale handle closing is the dying
        // database's drop, which is fine.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use redb::StorageBackend as _;

    fn read_all(backend: &SimDiskBackend) -> Vec<u8> {
        let mut out = vec![0; usize::try_from(backend.len().unwrap()).unwrap()];
        backend.read(0, &mut out).unwrap();
        out
    }

    #[test]
    fn sync_applies_only_pending_writes() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        backend.set_len(1024).unwrap();
        backend.write(0, b"first").unwrap();
        assert_eq!(disk.pending_ops(), 2);
        assert_eq!(disk.durable_len(), 0);
        backend.sync_data().unwrap();
        assert_eq!(disk.pending_ops(), 0);
        assert_eq!(disk.counters().synced_ops, 2);
        assert_eq!(&disk.durable_image()[..5], b"first");

        backend.write(512, b"second").unwrap();
        assert_eq!(disk.pending_ops(), 1);
        assert_eq!(&disk.durable_image()[512..518], &[0; 6]);
        backend.sync_data().unwrap();
        // The second sync applied exactly the one write logged since the first.
        assert_eq!(disk.counters().synced_ops, 3);
        assert_eq!(disk.durable_image(), disk.volatile_image());
        assert_eq!(&disk.durable_image()[512..518], b"second");
        disk.check_invariants_deep().unwrap();
    }

    #[test]
    fn crash_drops_unsynced_writes() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        backend.write(0, b"durable").unwrap();
        backend.sync_data().unwrap();
        backend.write(0, b"lost!!!").unwrap();
        backend.set_len(4096).unwrap();
        assert_eq!(&read_all(&backend)[..7], b"lost!!!");

        let report = disk.crash();
        assert_eq!(report.pending_ops, 2);
        assert_eq!(report.dropped_ops, 2);
        assert_eq!(report.generation, Generation(1));
        assert_eq!(read_all(&disk.backend()), b"durable");
        disk.check_invariants_deep().unwrap();
    }

    #[test]
    fn stale_generation_handles_cannot_write_after_crash() {
        let disk = SimDisk::new();
        let old = disk.backend();
        old.write(0, b"synced").unwrap();
        old.sync_data().unwrap();
        disk.crash();

        let fresh = disk.backend();
        for err in [
            old.write(0, b"zombie").unwrap_err(),
            old.set_len(0).unwrap_err(),
            old.sync_data().unwrap_err(),
            old.len().unwrap_err(),
            old.read(0, &mut [0; 1]).unwrap_err(),
        ] {
            assert!(err.to_string().contains(SIMULATED_POWER_LOSS), "{err}");
        }
        old.close().unwrap();
        assert_eq!(disk.counters().stale_calls, 5);
        assert_eq!(read_all(&fresh), b"synced");
        assert_eq!(disk.pending_ops(), 0);
        assert_eq!(fresh.generation(), Generation(1));
    }

    #[test]
    fn armed_crash_fails_the_nth_operation_and_loses_power() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        disk.arm_crash_after(3, PowerLoss::DropUnsynced);
        backend.write(0, b"a").unwrap();
        backend.sync_data().unwrap();
        backend.write(1, b"b").unwrap_err();
        let err = backend.write(2, b"c").unwrap_err();
        assert!(err.to_string().contains("stale"), "{err}");
        assert!(!disk.is_armed());
        assert_eq!(disk.generation(), Generation(1));
        assert_eq!(read_all(&disk.backend()), b"a");
        assert_eq!(disk.counters().armed_crashes, 1);
    }

    #[test]
    fn keep_unsynced_power_loss_lands_every_accepted_write() {
        let disk = SimDisk::new();
        let backend = disk.backend();
        backend.write(0, b"landed").unwrap();
        disk.arm_crash_after(1, PowerLoss::KeepUnsynced);
        backend.write(6, b"lost").unwrap_err();
        assert_eq!(disk.durable_image(), b"landed");
        assert_eq!(read_all(&disk.backend()), b"landed");
    }

    #[test]
    fn armed_crash_error_message_is_simulated_power_loss() {
        let disk = SimDisk::new();
        disk.arm_crash_after(1, PowerLoss::DropUnsynced);
        let err = disk.backend().sync_data().unwrap_err();
        assert_eq!(err.to_string(), SIMULATED_POWER_LOSS);
    }

    #[test]
    fn torn_crash_is_a_function_of_the_seed() {
        let image = |seed| {
            let disk = SimDisk::new();
            let backend = disk.backend();
            for i in 0..32_u8 {
                backend.write(u64::from(i) * 700, &[i + 1; 900]).unwrap();
            }
            let report = disk.crash_torn(seed);
            assert_eq!(report.pending_ops, 32);
            (disk.durable_image(), report)
        };
        assert_eq!(image(5), image(5));
        assert_ne!(image(5).0, image(6).0);
    }

    #[test]
    fn install_replaces_main_with_synced_scratch() {
        let disk = SimDisk::new();
        let scratch = disk.scratch_backend();
        scratch.write(0, b"built").unwrap();
        scratch.sync_data().unwrap();
        disk.install_scratch(scratch.generation()).unwrap();
        disk.crash();
        assert_eq!(disk.durable_image(), b"built");
        assert_eq!(disk.counters().installs, 1);
    }

    #[test]
    fn armed_crash_at_install_leaves_main_unchanged() {
        let disk = SimDisk::new();
        let scratch = disk.scratch_backend();
        scratch.write(0, b"built").unwrap();
        scratch.sync_data().unwrap();
        disk.arm_crash_after(1, PowerLoss::DropUnsynced);
        disk.install_scratch(scratch.generation()).unwrap_err();
        assert_eq!(disk.volatile_len(), 0);
    }

    /// One step of the naive-model property below.
    #[derive(Debug, Clone)]
    enum Step {
        Write { offset: u16, len: u16, byte: u8 },
        SetLen { len: u16 },
        Sync,
        Crash,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..8192_u16, 1..1500_u16, any::<u8>())
                .prop_map(|(offset, len, byte)| Step::Write { offset, len, byte }),
            1 => (0..10_000_u16).prop_map(|len| Step::SetLen { len }),
            2 => Just(Step::Sync),
            1 => Just(Step::Crash),
        ]
    }

    proptest! {
        /// Against a model that copies whole images: reads, sync and crash agree.
        #[test]
        fn sim_disk_matches_a_copying_model(steps in prop::collection::vec(step(), 1..60)) {
            let disk = SimDisk::new();
            let mut backend = disk.backend();
            let (mut durable, mut volatile) = (Vec::new(), Vec::new());
            for step in steps {
                match step {
                    Step::Write { offset, len, byte } => {
                        let data = vec![byte; usize::from(len)];
                        backend.write(u64::from(offset), &data).unwrap();
                        write_at(&mut volatile, u64::from(offset), &data);
                    }
                    Step::SetLen { len } => {
                        backend.set_len(u64::from(len)).unwrap();
                        volatile.resize(usize::from(len), 0);
                    }
                    Step::Sync => {
                        backend.sync_data().unwrap();
                        durable.clone_from(&volatile);
                    }
                    Step::Crash => {
                        disk.crash();
                        backend = disk.backend();
                        volatile.clone_from(&durable);
                    }
                }
                prop_assert_eq!(read_all(&backend), volatile.clone());
                prop_assert_eq!(disk.durable_image(), durable.clone());
                prop_assert_eq!(disk.check_invariants_deep(), Ok(()));
            }
        }

        /// A torn crash never splits a sector of one write: each 512-byte piece of each
        /// (non-overlapping) write is all there or all zero.
        #[test]
        fn torn_crash_keeps_sectors_whole(
            lens in prop::collection::vec(1..3000_u64, 1..12),
            seed in any::<u64>(),
        ) {
            let disk = SimDisk::new();
            let backend = disk.backend();
            let mut extents = Vec::new();
            let mut offset = 100;
            for (i, len) in lens.iter().enumerate() {
                let byte = u8::try_from(i + 1).unwrap();
                backend.write(offset, &vec![byte; usize::try_from(*len).unwrap()]).unwrap();
                extents.push((offset, offset + len, byte));
                offset += len;
            }
            disk.crash_torn(seed);
            let image = disk.durable_image();
            for (start, end, byte) in extents {
                let mut piece = start;
                while piece < end {
                    let piece_end = ((piece / SECTOR_BYTES + 1) * SECTOR_BYTES).min(end);
                    let got: Vec<u8> = (piece..piece_end)
                        .map(|at| image.get(index(at)).copied().unwrap_or(0))
                        .collect();
                    prop_assert!(
                        got.iter().all(|b| *b == byte) || got.iter().all(|b| *b == 0),
                        "piece {}..{} of write {} is split", piece, piece_end, byte
                    );
                    piece = piece_end;
                }
            }
        }
    }
}
