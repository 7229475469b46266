//! Transactions, commit policy and space accounting.
//!
//! Every operation runs inside the one open redb write transaction (redb allows one writer);
//! reads run in it too, so they see what earlier operations wrote. That transaction *is* the
//! write-back cache: pages dirtied in it are modified in memory until it commits. It is
//! committed durably (one `fdatasync` of the container) when
//! * a caller asks (`fsync`, `fsyncdir`, `sync`, unmount),
//! * the oldest change that is not yet durable is older than the commit interval (5 s by
//!   default, like ext4's commit interval),
//! * the container is nearly full (then after every changing operation, so a surprise
//!   "no space" from the storage engine can lose at most that operation).
//!
//! A transaction that has written more than the dirty limit (64 MiB by default, capped at 1/4
//! of the cache and 1/8 of the container) is committed *without* durability ("buffered"):
//! that bounds memory and keeps the transaction inside redb's write buffer (half the cache;
//! past it, redb writes pages out early and rewrites them when the same transaction touches
//! them again, which doubled the bytes written by large sequential writes), but does not make
//! the writer wait for an `fdatasync` every 64 MiB. A crash rolls buffered commits back to
//! the last durable one, as it would an open transaction; the next durable commit (within the
//! commit interval) makes them durable. Pages they freed stay pinned until then.
//!
//! Space: redb grows its file by doubling and cannot be told how large the container is, and
//! a write the container cannot hold makes redb refuse all further use until it is reopened.
//! So the file system keeps its own conservative account of the bytes its records occupy and
//! refuses to grow past the container's capacity *before* redb would run out. If the account
//! is ever too optimistic, the safety net reopens the database from its last commit and
//! reports "no space" (logged loudly; tests assert it never fires).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};
use secvol_core::{BlockDevice, ReadAheadDevice, WriteBehindDevice};

use crate::backend::{BackendState, DeviceBackend, redb_needs_recovery};
use crate::error::{FsError, FsResult, storage_error};
use crate::inode::{Ino, Inode};
use crate::schema::{
    CHUNK_SIZE, FS_FORMAT, META, META_CHUNK_SIZE, META_FORMAT, META_INODE_COUNT, META_NEXT_INO,
    META_USED_BYTES,
};

/// Tuning of a mounted file system.
#[derive(Debug, Clone)]
pub struct FsOptions {
    /// Commit durably at least this often while there are changes.
    pub commit_interval: Duration,
    /// Commit without durability (a buffered commit) once a transaction has written this many
    /// bytes (also capped at 1/4 of `cache_size` and 1/8 of the container).
    pub dirty_limit: u64,
    /// redb's page cache (half of it is its write buffer).
    pub cache_size: usize,
    /// Refuse every change; nothing is written to the container.
    pub read_only: bool,
    /// Read blocks that fail authentication as zeros instead of failing (counted by the
    /// device). Only for `check`, which must keep going to name every damaged file; never for
    /// a mount, where damaged data must be an I/O error.
    pub lenient_reads: bool,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            commit_interval: Duration::from_secs(5),
            dirty_limit: 64 << 20,
            cache_size: 256 << 20,
            read_only: false,
            lenient_reads: false,
        }
    }
}

/// Counters kept in memory and written to the meta table at each commit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) next_ino: u64,
    /// Estimated bytes of redb pages occupied by live records (schema::entry_cost).
    pub(crate) used_bytes: u64,
    pub(crate) inode_count: u64,
    /// Estimated bytes of pages that the open transaction freed or copied: they cannot be
    /// reused until it commits.
    pub(crate) pinned_bytes: u64,
}

/// An error inside an operation: either the operation's own refusal (nothing was changed)
/// or a failure of the storage engine (the transaction can no longer be trusted).
#[derive(Debug)]
pub(crate) enum TxError {
    Fs(FsError),
    Storage(redb::Error),
}

impl From<FsError> for TxError {
    fn from(err: FsError) -> Self {
        TxError::Fs(err)
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for TxError {
            fn from(err: $t) -> Self {
                TxError::Storage(err.into())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::CommitError,
    redb::TransactionError
);

pub(crate) type TxResult<T> = Result<T, TxError>;

/// Decoded inode records as the open transaction holds them. Nearly every operation reads
/// one or two inodes, and a redb lookup plus decoding costs more than the rest of a small
/// operation. It mirrors the transaction exactly, because every inode record is written or
/// removed through `Tx::put_inode` / `Tx::delete_inode`, which update it; so it survives
/// commits and is cleared only when the transaction is thrown away (a storage failure).
pub(crate) type InodeCache = RefCell<HashMap<Ino, Inode>>;

/// Inodes kept in the [`InodeCache`] (about 150 bytes each); past it the cache starts over.
pub(crate) const INODE_CACHE_LIMIT: usize = 65_536;

/// What an operation sees: the open transaction and the counters.
pub(crate) struct Tx<'a> {
    pub(crate) txn: &'a WriteTransaction,
    pub(crate) counters: &'a mut Counters,
    pub(crate) inodes: &'a InodeCache,
    modified: &'a mut bool,
    written: &'a mut u64,
    usable_bytes: u64,
}

impl Tx<'_> {
    /// Record that the operation changed something, with its space effect: `added` bytes of
    /// new records, `freed` bytes of records removed or replaced (pinned until commit).
    pub(crate) fn account(&mut self, added: u64, freed: u64) {
        *self.modified = true;
        // Each change copies the leaf and its branch path: a few pages pinned per change.
        const PATH_COPY: u64 = 3 * 4096;
        self.counters.used_bytes = (self.counters.used_bytes + added).saturating_sub(freed);
        self.counters.pinned_bytes += freed + PATH_COPY;
        *self.written += added + PATH_COPY;
    }

    /// Refuse with "no space" if `needed` more bytes would not fit. Called before changing
    /// anything.
    pub(crate) fn reserve(&self, needed: u64) -> TxResult<()> {
        let projected = self.counters.used_bytes + self.counters.pinned_bytes + needed;
        if projected > self.usable_bytes {
            return Err(TxError::Fs(FsError::NoSpace));
        }
        Ok(())
    }
}

pub(crate) struct Slot {
    db: Option<Database>,
    backend: Option<Arc<BackendState>>,
    txn: Option<WriteTransaction>,
    pub(crate) counters: Counters,
    inodes: InodeCache,
    /// The open transaction changed something.
    modified: bool,
    /// Commits made without an `fdatasync` (at the dirty limit) since the last durable one.
    buffered_since_durable: bool,
    /// When the oldest change not yet durable was made (or its transaction opened).
    changes_since: Instant,
    written: u64,
    broken: Option<String>,
}

/// The database and its one write transaction.
pub(crate) struct Store {
    device: Arc<dyn BlockDevice>,
    slot: Mutex<Slot>,
    options: FsOptions,
    usable_bytes: u64,
    dirty_limit: u64,
    durable_commits: AtomicU64,
    buffered_commits: AtomicU64,
    safety_net_events: AtomicU64,
    timer_stop: Arc<(Mutex<bool>, Condvar)>,
    /// Called before every commit that persists something (see `deferred.rs`).
    before_persist: OnceLock<PersistHook>,
}

/// What runs before a commit persists anything.
pub(crate) type PersistHook = Box<dyn Fn() -> FsResult<()> + Send + Sync>;

fn open_database(
    device: &Arc<dyn BlockDevice>,
    options: &FsOptions,
) -> FsResult<(Database, Arc<BackendState>)> {
    let recovering = redb_needs_recovery(&**device).map_err(storage_error)?;
    let (backend, state) = DeviceBackend::new(Arc::clone(device), options.lenient_reads);
    if recovering {
        log::info!("the container was not unmounted cleanly; recovering the last commit");
    }
    state.set_recovering(recovering);
    let db = redb::Builder::new()
        .set_cache_size(options.cache_size)
        .create_with_backend(backend);
    state.set_recovering(false);
    Ok((db.map_err(storage_error)?, state))
}

fn read_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> TxResult<Option<u64>> {
    Ok(match meta.get(key)? {
        Some(v) => Some(u64::from_le_bytes(v.value().try_into().map_err(|_| {
            FsError::Corrupt(format!("meta record `{key}` has the wrong length"))
        })?)),
        None => None,
    })
}

impl Store {
    /// Usable bytes: the device capacity minus what redb itself needs (its header page,
    /// allocator state, system tables and branch pages) and a reserve that keeps deletions
    /// possible when the container is full.
    fn usable_for_capacity(capacity: u64) -> u64 {
        let overhead = 192 * 1024 + capacity / 64;
        capacity.saturating_sub(overhead)
    }

    pub(crate) fn open(
        device: Arc<dyn BlockDevice>,
        options: FsOptions,
        format: bool,
    ) -> FsResult<Arc<Store>> {
        let capacity = device.capacity_blocks() * 4096;
        // Reading ahead, and encryption and host writes, run on worker threads beside the
        // file-system work.
        let thread_error =
            |e: std::io::Error| FsError::Storage(format!("cannot start a container thread: {e}"));
        let device: Arc<dyn BlockDevice> =
            Arc::new(ReadAheadDevice::new(device).map_err(thread_error)?);
        let device: Arc<dyn BlockDevice> = if options.read_only {
            device
        } else {
            Arc::new(WriteBehindDevice::new(device).map_err(thread_error)?)
        };
        let (db, backend) = open_database(&device, &options)?;
        let usable_bytes = Self::usable_for_capacity(capacity);
        // A transaction larger than redb's write buffer (half the cache) spills pages that it
        // then rewrites: keep it within a quarter of the cache (the account overestimates).
        let dirty_limit = options
            .dirty_limit
            .min(capacity / 8)
            .min(options.cache_size as u64 / 4)
            .max(1 << 20);
        let store = Arc::new(Store {
            device,
            slot: Mutex::new(Slot {
                db: Some(db),
                backend: Some(backend),
                txn: None,
                counters: Counters::default(),
                inodes: InodeCache::default(),
                modified: false,
                buffered_since_durable: false,
                changes_since: Instant::now(),
                written: 0,
                broken: None,
            }),
            options,
            usable_bytes,
            dirty_limit,
            durable_commits: AtomicU64::new(0),
            buffered_commits: AtomicU64::new(0),
            safety_net_events: AtomicU64::new(0),
            timer_stop: Arc::new((Mutex::new(false), Condvar::new())),
            before_persist: OnceLock::new(),
        });
        {
            let mut slot = store.lock();
            if format {
                store.format_meta(&mut slot)?;
            }
            slot.counters = store.load_counters(&mut slot)?;
        }
        Ok(store)
    }

    /// Run `hook` before every commit that persists something (set once).
    pub(crate) fn before_first_persist(&self, hook: PersistHook) {
        let _ = self.before_persist.set(hook);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn format_meta(&self, slot: &mut Slot) -> FsResult<()> {
        let db = slot.db.as_ref().expect("database open");
        let run = || -> TxResult<()> {
            let txn = db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                if meta.get(META_FORMAT)?.is_some() {
                    return Err(FsError::Exists.into());
                }
                meta.insert(META_FORMAT, &FS_FORMAT.to_le_bytes()[..])?;
                meta.insert(META_CHUNK_SIZE, &CHUNK_SIZE.to_le_bytes()[..])?;
                meta.insert(META_NEXT_INO, &2u64.to_le_bytes()[..])?;
                meta.insert(META_USED_BYTES, &0u64.to_le_bytes()[..])?;
                meta.insert(META_INODE_COUNT, &0u64.to_le_bytes()[..])?;
            }
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| match e {
            TxError::Fs(e) => e,
            TxError::Storage(e) => storage_error(e),
        })
    }

    fn load_counters(&self, slot: &mut Slot) -> FsResult<Counters> {
        let db = slot.db.as_ref().expect("database open");
        let load = || -> TxResult<Counters> {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let meta = txn.open_table(META).map_err(|e| match e {
                redb::TableError::TableDoesNotExist(_) => {
                    TxError::Fs(FsError::Corrupt("no file system in this container".into()))
                }
                other => other.into(),
            })?;
            let format = match meta.get(META_FORMAT)? {
                Some(v) => v.value().to_vec(),
                None => {
                    return Err(FsError::Corrupt("file system format record missing".into()).into());
                }
            };
            if format != FS_FORMAT.to_le_bytes() {
                return Err(FsError::Corrupt(format!(
                    "unsupported file system format {format:?} (this secvol reads {FS_FORMAT})"
                ))
                .into());
            }
            if read_u64(&meta, META_CHUNK_SIZE)? != Some(CHUNK_SIZE) {
                return Err(FsError::Corrupt("unsupported chunk size".into()).into());
            }
            Ok(Counters {
                next_ino: read_u64(&meta, META_NEXT_INO)?.unwrap_or(2),
                used_bytes: read_u64(&meta, META_USED_BYTES)?.unwrap_or(0),
                inode_count: read_u64(&meta, META_INODE_COUNT)?.unwrap_or(0),
                pinned_bytes: 0,
            })
        };
        load().map_err(|e| match e {
            TxError::Fs(e) => e,
            TxError::Storage(e) => storage_error(e),
        })
    }

    /// Run `op` inside the open transaction. `changes` says whether it may modify anything
    /// (refused on a read-only file system).
    pub(crate) fn run<T>(
        &self,
        changes: bool,
        op: impl FnOnce(&mut Tx<'_>) -> TxResult<T>,
    ) -> FsResult<T> {
        if changes && self.options.read_only {
            return Err(FsError::ReadOnly);
        }
        let mut slot = self.lock();
        let slot = &mut *slot;
        if let Some(reason) = &slot.broken {
            return Err(FsError::Storage(reason.clone()));
        }
        if slot.txn.is_none() {
            let db = slot.db.as_ref().expect("database open unless broken");
            match db.begin_write() {
                Ok(txn) => {
                    slot.txn = Some(txn);
                    if !slot.buffered_since_durable {
                        slot.changes_since = Instant::now();
                    }
                    slot.written = 0;
                }
                Err(err) => return Err(self.storage_failure(slot, err.into())),
            }
        }
        let result = {
            let mut tx = Tx {
                txn: slot.txn.as_ref().expect("transaction just opened"),
                counters: &mut slot.counters,
                inodes: &slot.inodes,
                modified: &mut slot.modified,
                written: &mut slot.written,
                usable_bytes: self.usable_bytes,
            };
            op(&mut tx)
        };
        match result {
            Ok(value) => {
                if changes && slot.modified {
                    if self.near_full(&slot.counters) {
                        self.commit_locked(slot, true)?;
                    } else if slot.written >= self.dirty_limit {
                        self.commit_locked(slot, false)?;
                    }
                }
                Ok(value)
            }
            Err(TxError::Fs(FsError::NoSpace)) if slot.counters.pinned_bytes > 0 && changes => {
                // Pages pinned by the open transaction come back at commit: commit, then the
                // caller may retry once.
                self.commit_locked(slot, true)?;
                Err(FsError::NoSpace)
            }
            Err(TxError::Fs(err)) => Err(err),
            Err(TxError::Storage(err)) => Err(self.storage_failure(slot, err)),
        }
    }

    /// Like [`Store::run`], but retries once after a commit when the first attempt ran out of
    /// space only because of pages the open transaction had pinned.
    pub(crate) fn run_retrying<T>(
        &self,
        mut op: impl FnMut(&mut Tx<'_>) -> TxResult<T>,
    ) -> FsResult<T> {
        match self.run(true, &mut op) {
            Err(FsError::NoSpace) => self.run(true, op),
            other => other,
        }
    }

    fn near_full(&self, counters: &Counters) -> bool {
        let band = (self.usable_bytes / 16).max(1 << 20);
        counters.used_bytes + counters.pinned_bytes + band > self.usable_bytes
    }

    /// Commit the open transaction durably, if it changed anything.
    pub(crate) fn commit(&self) -> FsResult<()> {
        if self.options.read_only {
            return Ok(());
        }
        let mut slot = self.lock();
        if let Some(reason) = &slot.broken {
            return Err(FsError::Storage(reason.clone()));
        }
        self.commit_locked(&mut slot, true)
    }

    /// Commit the open transaction. `durable`: with an `fdatasync`, making it and every
    /// earlier commit survive a crash; otherwise (at the dirty limit) the commit only hands the
    /// pages to the storage engine's write buffer, to be written out as it fills and made
    /// durable by the next durable commit.
    fn commit_locked(&self, slot: &mut Slot, durable: bool) -> FsResult<()> {
        let to_persist = slot.modified || (durable && slot.buffered_since_durable);
        if to_persist
            && let Some(hook) = self.before_persist.get()
            && let Err(err) = hook()
        {
            slot.broken = Some(err.to_string());
            return Err(err);
        }
        let open = slot.txn.take();
        if !to_persist {
            // Nothing to persist: dropping the transaction aborts it without any I/O.
            return Ok(());
        }
        let mut txn = match open {
            Some(txn) => txn,
            // Only earlier buffered commits to make durable: an empty durable commit does it.
            None => match slot
                .db
                .as_ref()
                .expect("database open unless broken")
                .begin_write()
            {
                Ok(txn) => txn,
                Err(err) => return Err(self.storage_failure(slot, err.into())),
            },
        };
        let counters = slot.counters;
        let persist = |txn: &WriteTransaction| -> TxResult<()> {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_NEXT_INO, &counters.next_ino.to_le_bytes()[..])?;
            meta.insert(META_USED_BYTES, &counters.used_bytes.to_le_bytes()[..])?;
            meta.insert(META_INODE_COUNT, &counters.inode_count.to_le_bytes()[..])?;
            Ok(())
        };
        let result = persist(&txn).and_then(|()| {
            txn.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::None
            })
            .map_err(|e| TxError::Storage(e.into()))?;
            txn.commit()?;
            Ok(())
        });
        match result {
            Ok(()) if !durable => {
                // Pages the transaction freed stay pinned until a durable commit: redb may
                // reuse them only once no durable state refers to them.
                slot.modified = false;
                slot.buffered_since_durable = true;
                slot.written = 0;
                self.buffered_commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(()) => {
                slot.modified = false;
                slot.buffered_since_durable = false;
                slot.counters.pinned_bytes = 0;
                slot.written = 0;
                self.durable_commits.fetch_add(1, Ordering::Relaxed);
                self.regrow_if_shrunk(slot);
                Ok(())
            }
            Err(TxError::Fs(err)) => Err(err),
            Err(TxError::Storage(err)) => Err(self.storage_failure(slot, err)),
        }
    }

    /// redb shrinks its file at a commit that leaves the tail free, and would later grow it
    /// again by doubling, past the container's capacity (see
    /// [`crate::backend::extend_to_capacity`]). After such a commit, close the database
    /// (a clean shutdown: nothing is lost, the commit is durable) and reopen it: the device
    /// itself never shrank, so the new backend shows redb the whole container again and redb
    /// adopts the full layout. Rare: only after large deletions.
    fn regrow_if_shrunk(&self, slot: &mut Slot) {
        let shrunk = slot.backend.as_ref().is_some_and(|backend| {
            crate::backend::shrunk_below_capacity(&*self.device, backend).unwrap_or(false)
        });
        if !shrunk || slot.txn.is_some() {
            return;
        }
        log::debug!("the database file shrank; giving it the whole container again");
        slot.db = None;
        slot.backend = None;
        match open_database(&self.device, &self.options) {
            Ok((db, backend)) => {
                slot.db = Some(db);
                slot.backend = Some(backend);
            }
            Err(err) => {
                log::error!("cannot reopen the database after it shrank: {err}");
                slot.broken = Some(err.to_string());
            }
        }
    }

    /// The storage engine failed. If the container ran out of room (the space account was too
    /// optimistic), reopen from the last commit and report "no space"; otherwise refuse all
    /// further use until the file system is reopened.
    fn storage_failure(&self, slot: &mut Slot, err: redb::Error) -> FsError {
        slot.txn = None;
        slot.inodes.get_mut().clear();
        slot.modified = false;
        slot.buffered_since_durable = false;
        let error = storage_error(err);
        if !matches!(error, FsError::NoSpace) {
            log::error!("storage failure, refusing further changes until remount: {error}");
            slot.broken = Some(error.to_string());
            return error;
        }
        self.safety_net_events.fetch_add(1, Ordering::Relaxed);
        log::error!(
            "the container filled up before the space estimate said so; reopening from the last \
             commit (changes of the last few seconds that were not fsynced are lost)"
        );
        slot.db = None;
        slot.backend = None;
        let next_ino = slot.counters.next_ino;
        match open_database(&self.device, &self.options) {
            Ok((db, backend)) => {
                slot.db = Some(db);
                slot.backend = Some(backend);
                match self.load_counters(slot) {
                    Ok(mut counters) => {
                        counters.next_ino = counters.next_ino.max(next_ino);
                        // Trust the account less from now on: count the container as full.
                        counters.used_bytes = counters.used_bytes.max(self.usable_bytes);
                        slot.counters = counters;
                    }
                    Err(e) => slot.broken = Some(e.to_string()),
                }
            }
            Err(e) => slot.broken = Some(e.to_string()),
        }
        FsError::NoSpace
    }

    /// Commit if the open transaction is older than the commit interval (the timer's job).
    fn tick(&self) {
        let mut slot = self.lock();
        if slot.broken.is_none()
            && (slot.modified || slot.buffered_since_durable)
            && slot.changes_since.elapsed() >= self.options.commit_interval
            && let Err(err) = self.commit_locked(&mut slot, true)
        {
            log::error!("periodic commit failed: {err}");
        }
    }

    /// Start the thread that commits every `commit_interval`.
    pub(crate) fn start_timer(self: &Arc<Self>) {
        if self.options.read_only {
            return;
        }
        let weak: Weak<Store> = Arc::downgrade(self);
        let stop = Arc::clone(&self.timer_stop);
        let period = (self.options.commit_interval / 5).max(Duration::from_millis(100));
        let spawned = std::thread::Builder::new()
            .name("secvol-commit".into())
            .spawn(move || {
                loop {
                    let (lock, cvar) = &*stop;
                    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let (guard, _) = cvar
                        .wait_timeout_while(guard, period, |stopped| !*stopped)
                        .unwrap_or_else(|p| p.into_inner());
                    if *guard {
                        return;
                    }
                    drop(guard);
                    let Some(store) = weak.upgrade() else { return };
                    store.tick();
                }
            });
        if let Err(err) = spawned {
            log::error!("could not start the commit timer: {err}");
        }
    }

    /// Stop the timer, commit, and close the database cleanly.
    pub(crate) fn close(&self) -> FsResult<()> {
        {
            let (lock, cvar) = &*self.timer_stop;
            *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
            cvar.notify_all();
        }
        let result = self.commit();
        let mut slot = self.lock();
        slot.txn = None;
        // Dropping the database writes redb's clean-shutdown header and syncs.
        slot.db = None;
        slot.backend = None;
        if !self.options.read_only {
            self.device.sync()?;
        }
        result
    }

    pub(crate) fn usable_bytes(&self) -> u64 {
        self.usable_bytes
    }

    pub(crate) fn durable_commits(&self) -> u64 {
        self.durable_commits.load(Ordering::Relaxed)
    }

    pub(crate) fn buffered_commits(&self) -> u64 {
        self.buffered_commits.load(Ordering::Relaxed)
    }

    pub(crate) fn safety_net_events(&self) -> u64 {
        self.safety_net_events.load(Ordering::Relaxed)
    }

    pub(crate) fn device(&self) -> &Arc<dyn BlockDevice> {
        &self.device
    }

    /// Run `f` with exclusive access to the database (no open transaction), for `check`.
    pub(crate) fn with_database<T>(&self, f: impl FnOnce(&mut Database) -> T) -> FsResult<T> {
        let mut slot = self.lock();
        self.commit_locked(&mut slot, true)?;
        slot.txn = None;
        let db = slot
            .db
            .as_mut()
            .ok_or_else(|| FsError::Storage("database closed".into()))?;
        Ok(f(db))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.timer_stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
    }
}
