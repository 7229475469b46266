//! The store: redb over the device, its one write transaction, and readers of the last commit.
//!
//! Every changing operation runs inside the one open redb write transaction (redb allows one
//! writer), under the store's lock. That transaction *is* the write-back cache: pages dirtied
//! in it are modified in memory until it commits; when it commits is the commit policy's
//! decision (`policy.rs`). Reading operations run on a read transaction of the last commit
//! when they can, without that lock, in parallel with each other and with the writer; one that
//! meets something the open transaction changed runs on the write transaction instead
//! (`view.rs`).
//!
//! | concern | module |
//! |---|---|
//! | the database's lifecycle: open and recovery, format record, reopen, close | `engine.rs` |
//! | when to commit, and whether durably; the commit timer | `policy.rs` |
//! | how many bytes the records occupy; "no space" before redb would run out | `space.rs` |
//! | what an operation sees; its errors | `tx.rs` |
//!
//! Locks, always taken in this order: the writer's `slot`, then `engine` (shared by every
//! operation while it uses the database, exclusive to close or replace it), then `dirty`.

mod engine;
mod policy;
mod space;
mod tx;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use redb::{Database, Durability, WriteTransaction};
use secvol_core::{BlockDevice, DeviceStack};

use self::engine::Engine;
use self::policy::{CommitNow, CommitPolicy, Timer};
pub(crate) use self::space::{Counters, REWRITE_HEADROOM, usable_for_capacity};
pub(crate) use self::tx::{INODE_CACHE_LIMIT, InodeCache, Tx, TxError, TxResult};
use crate::error::{FsError, FsResult, storage_error};
use crate::schema::{META, META_INODE_COUNT, META_NEXT_INO, META_RESERVED_CHUNKS, META_USED_BYTES};
use crate::view::{DirtySet, LazySnapshot, Reader};

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
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            commit_interval: Duration::from_secs(5),
            dirty_limit: 64 << 20,
            cache_size: 256 << 20,
        }
    }
}

/// The writer's state: the open transaction and what it has done.
struct Slot {
    txn: Option<WriteTransaction>,
    counters: Counters,
    inodes: InodeCache,
    /// The open transaction changed something.
    modified: bool,
    /// Commits made without an `fdatasync` (at the dirty limit) since the last durable one.
    buffered_since_durable: bool,
    /// When the oldest change not yet durable was made (or its transaction opened).
    changes_since: Instant,
    written: u64,
}

/// The database, its one write transaction, and its readers.
pub(crate) struct Store {
    device: Arc<dyn BlockDevice>,
    /// The stack `device` tops: told to let writes through before the first change is
    /// persisted ([`DeviceStack::go_live`]).
    stack: DeviceStack,
    /// Opened on a read-only stack: every change is refused and nothing is committed.
    read_only: bool,
    options: FsOptions,
    /// Follows the device's capacity when the container grows (`crate::resize`).
    usable_bytes: AtomicU64,
    policy: CommitPolicy,
    slot: Mutex<Slot>,
    engine: RwLock<Engine>,
    /// The inodes the open write transaction changed; a new set after each commit.
    dirty: Mutex<Arc<DirtySet>>,
    /// Whether readers may run on the last commit: not when the container is nearly full,
    /// where a long reader would keep pages the writer freed from being reused.
    readers_allowed: AtomicBool,
    durable_commits: AtomicU64,
    buffered_commits: AtomicU64,
    safety_net_events: AtomicU64,
    timer: Timer,
}

impl Store {
    pub(crate) fn open(
        stack: &DeviceStack,
        options: FsOptions,
        format: bool,
    ) -> FsResult<Arc<Store>> {
        let device = Arc::clone(stack.device());
        let capacity = device.capacity_blocks() * 4096;
        let engine = Engine::open(&device, &options)?;
        if format {
            engine.format_meta()?;
        }
        let counters = engine.load_counters()?;
        let usable_bytes = usable_for_capacity(capacity);
        Ok(Arc::new(Store {
            device,
            stack: stack.clone(),
            read_only: stack.mode().is_read_only(),
            policy: CommitPolicy::new(&options, capacity),
            options,
            usable_bytes: AtomicU64::new(usable_bytes),
            slot: Mutex::new(Slot {
                txn: None,
                counters,
                inodes: InodeCache::default(),
                modified: false,
                buffered_since_durable: false,
                changes_since: Instant::now(),
                written: 0,
            }),
            engine: RwLock::new(engine),
            dirty: Mutex::default(),
            readers_allowed: AtomicBool::new(!space::near_full(&counters, usable_bytes)),
            durable_commits: AtomicU64::new(0),
            buffered_commits: AtomicU64::new(0),
            safety_net_events: AtomicU64::new(0),
            timer: Timer::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn engine(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine for closing or replacing the database: waits until no reader uses it.
    fn engine_mut(&self) -> RwLockWriteGuard<'_, Engine> {
        self.engine.write().unwrap_or_else(|p| p.into_inner())
    }

    fn dirty_set(&self) -> Arc<DirtySet> {
        Arc::clone(&self.dirty.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Start a new set of changed inodes (after a commit, or when changes were thrown away).
    fn new_dirty_set(&self) {
        *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = Arc::default();
    }

    /// The counters as of the last operation.
    pub(crate) fn counters(&self) -> Counters {
        self.lock().counters
    }

    /// Run `op` inside the open transaction. `changes` says whether it may modify anything
    /// (refused on a read-only file system).
    pub(crate) fn run<T>(
        &self,
        changes: bool,
        op: impl FnOnce(&mut Tx<'_>) -> TxResult<T>,
    ) -> FsResult<T> {
        if changes && self.read_only {
            return Err(FsError::ReadOnly);
        }
        let mut slot = self.lock();
        let slot = &mut *slot;
        let begun = self.engine().db().map(|db| match slot.txn {
            Some(_) => None,
            None => Some(db.begin_write()),
        })?;
        match begun {
            None => {}
            Some(Ok(txn)) => {
                slot.txn = Some(txn);
                if !slot.buffered_since_durable {
                    slot.changes_since = Instant::now();
                }
                slot.written = 0;
            }
            Some(Err(err)) => return Err(self.storage_failure(slot, err.into())),
        }
        let dirty = self.dirty_set();
        let result = {
            let txn = slot.txn.as_ref().expect("transaction open");
            let mut tx = Tx {
                reader: Reader::of_write(txn, &slot.inodes),
                txn,
                counters: &mut slot.counters,
                dirty: &dirty,
                modified: &mut slot.modified,
                written: &mut slot.written,
                usable_bytes: self.usable_bytes(),
            };
            op(&mut tx)
        };
        let outcome = match result {
            Ok(value) => {
                if changes && slot.modified {
                    let near_full = space::near_full(&slot.counters, self.usable_bytes());
                    match self.policy.after_change(near_full, slot.written) {
                        CommitNow::Durable => self.commit_locked(slot, true)?,
                        CommitNow::Buffered => self.commit_locked(slot, false)?,
                        CommitNow::No => {}
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
            Err(TxError::Storage(err)) => Err(self.storage_failure(slot, err)),
            Err(other) => Err(other.into_fs_error()),
        };
        self.readers_allowed.store(
            !space::near_full(&slot.counters, self.usable_bytes()),
            Ordering::Relaxed,
        );
        outcome
    }

    /// Run the reading operation `op` on a read transaction of the last commit, without
    /// holding the writer's lock: in parallel with other readers and with the writer. If `op`
    /// meets something the open write transaction changed (or readers of the last commit are
    /// not allowed now), it runs on the write transaction instead, like any operation.
    pub(crate) fn read<T>(&self, mut op: impl FnMut(&Reader<'_>) -> TxResult<T>) -> FsResult<T> {
        if self.readers_allowed.load(Ordering::Relaxed) {
            // The changed set first, then the snapshot: a commit in between makes the set
            // larger than needed (a reader then runs under the lock), never smaller.
            let dirty = self.dirty_set();
            let engine = self.engine();
            let snapshot = LazySnapshot::new(engine.db()?);
            let failure = match op(&Reader::of_commit(&snapshot, &dirty)) {
                Ok(value) => return Ok(value),
                Err(TxError::NeedsWriteView) => None,
                Err(TxError::Storage(err)) => Some(err),
                Err(other) => return Err(other.into_fs_error()),
            };
            drop(snapshot);
            drop(engine);
            if let Some(err) = failure {
                // As for a failure under the lock: the storage engine is not trusted until
                // the container is opened again.
                let mut slot = self.lock();
                return Err(self.storage_failure(&mut slot, err));
            }
        }
        self.run(false, |tx| op(&tx.reader))
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

    /// Commit the open transaction durably, if it changed anything.
    pub(crate) fn commit(&self) -> FsResult<()> {
        if self.read_only {
            return Ok(());
        }
        let mut slot = self.lock();
        self.engine().db()?;
        self.commit_locked(&mut slot, true)
    }

    /// Commit the open transaction. `durable`: with an `fdatasync`, making it and every
    /// earlier commit survive a crash; otherwise (at the dirty limit) the commit only hands the
    /// pages to the storage engine's write buffer, to be written out as it fills and made
    /// durable by the next durable commit.
    fn commit_locked(&self, slot: &mut Slot, durable: bool) -> FsResult<()> {
        let open = slot.txn.take();
        let to_persist = slot.modified || (durable && slot.buffered_since_durable);
        if !to_persist {
            // Nothing to persist: dropping the transaction aborts it without any I/O.
            return Ok(());
        }
        // The first change of the session: what the storage engine wrote while it opened
        // (held in memory until now, see `secvol_core::deferred`) goes to the container first.
        if let Err(err) = self.stack.go_live() {
            let err = FsError::from(err);
            self.engine_mut().stop(err.to_string());
            return Err(err);
        }
        let txn = match open {
            Some(txn) => txn,
            // Only earlier buffered commits to make durable: an empty durable commit does it.
            None => {
                let begun = self.engine().db().map(|db| db.begin_write())?;
                match begun {
                    Ok(txn) => txn,
                    Err(err) => return Err(self.storage_failure(slot, err.into())),
                }
            }
        };
        let counters = slot.counters;
        let persist = |txn: &WriteTransaction| -> TxResult<()> {
            let mut meta = txn.open_table(META)?;
            meta.insert(META_NEXT_INO, &counters.next_ino.to_le_bytes()[..])?;
            meta.insert(META_USED_BYTES, &counters.used_bytes.to_le_bytes()[..])?;
            meta.insert(META_INODE_COUNT, &counters.inode_count.to_le_bytes()[..])?;
            meta.insert(
                META_RESERVED_CHUNKS,
                &counters.reserved_chunks.to_le_bytes()[..],
            )?;
            Ok(())
        };
        let mut txn = txn;
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
            Ok(()) => {
                // Readers of the new commit see everything: start a new changed set.
                self.new_dirty_set();
                slot.modified = false;
                slot.written = 0;
                if durable {
                    slot.buffered_since_durable = false;
                    slot.counters.pinned_bytes = 0;
                    self.durable_commits.fetch_add(1, Ordering::Relaxed);
                    self.regrow_if_shrunk(slot);
                } else {
                    // Pages the transaction freed stay pinned until a durable commit: redb may
                    // reuse them only once no durable state refers to them.
                    slot.buffered_since_durable = true;
                    self.buffered_commits.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(TxError::Storage(err)) => Err(self.storage_failure(slot, err)),
            Err(other) => Err(other.into_fs_error()),
        }
    }

    /// redb shrinks its file at a commit that leaves the tail free, and would later grow it
    /// again by doubling, past the container's capacity (see
    /// [`crate::backend::extend_to_capacity`]). After such a commit, close the database
    /// (a clean shutdown: nothing is lost, the commit is durable) and reopen it: the device
    /// itself never shrank, so the new backend shows redb the whole container again and redb
    /// adopts the full layout. Rare: only after large deletions.
    fn regrow_if_shrunk(&self, slot: &Slot) {
        if slot.txn.is_some() || !self.engine().shrunk(&*self.device) {
            return;
        }
        log::debug!("the database file shrank; giving it the whole container again");
        self.engine_mut().reopen(&self.device, &self.options);
    }

    /// The storage engine failed. If the container ran out of room (the space account was too
    /// optimistic), reopen from the last commit and report "no space"; otherwise refuse all
    /// further use until the file system is reopened.
    fn storage_failure(&self, slot: &mut Slot, err: redb::Error) -> FsError {
        slot.txn = None;
        slot.inodes.get_mut().clear();
        slot.modified = false;
        slot.buffered_since_durable = false;
        self.new_dirty_set();
        let error = storage_error(err);
        let mut engine = self.engine_mut();
        if !matches!(error, FsError::NoSpace) {
            log::error!("storage failure, refusing further changes until remount: {error}");
            engine.stop(error.to_string());
            return error;
        }
        self.safety_net_events.fetch_add(1, Ordering::Relaxed);
        log::error!(
            "the container filled up before the space estimate said so; reopening from the last \
             commit (changes of the last few seconds that were not fsynced are lost)"
        );
        let next_ino = slot.counters.next_ino;
        engine.reopen(&self.device, &self.options);
        match engine.load_counters() {
            Ok(mut counters) => {
                counters.next_ino = counters.next_ino.max(next_ino);
                // Trust the account less from now on: count the container as full.
                counters.used_bytes = counters.used_bytes.max(self.usable_bytes());
                slot.counters = counters;
            }
            Err(err) => engine.stop(err.to_string()),
        }
        FsError::NoSpace
    }

    /// Commit if the changes not yet durable are due (the timer's job).
    fn tick(&self) {
        let mut slot = self.lock();
        if self.engine().db().is_ok()
            && (slot.modified || slot.buffered_since_durable)
            && self.policy.is_due(slot.changes_since)
            && let Err(err) = self.commit_locked(&mut slot, true)
        {
            log::error!("periodic commit failed: {err}");
        }
    }

    /// Start the thread that commits every commit interval.
    pub(crate) fn start_timer(self: &Arc<Self>) {
        if !self.read_only {
            self.timer.start(&self.policy, Arc::downgrade(self));
        }
    }

    /// Stop the timer, commit, and close the database cleanly.
    pub(crate) fn close(&self) -> FsResult<()> {
        self.timer.stop();
        let result = self.commit();
        let mut slot = self.lock();
        slot.txn = None;
        // Dropping the database writes redb's clean-shutdown header and syncs.
        self.engine_mut().close();
        if !self.read_only {
            self.device.sync()?;
        }
        result
    }

    pub(crate) fn usable_bytes(&self) -> u64 {
        self.usable_bytes.load(Ordering::Acquire)
    }

    /// Commit, close the database cleanly, let `change` work on the device (a grow of the
    /// container: `crate::resize`), reopen the database, and recompute the space account from
    /// the device's capacity. Operations wait meanwhile; open files are not affected.
    pub(crate) fn reopen_around(
        &self,
        change: impl FnOnce(&dyn BlockDevice) -> FsResult<()>,
    ) -> FsResult<()> {
        let mut slot = self.lock();
        self.engine().db()?;
        self.commit_locked(&mut slot, true)?;
        slot.txn = None;
        let mut engine = self.engine_mut();
        engine.close();
        let changed = change(&*self.device);
        match Engine::open(&self.device, &self.options) {
            Ok(reopened) => *engine = reopened,
            Err(err) => {
                log::error!("cannot reopen the database after a resize: {err}");
                engine.stop(err.to_string());
                return Err(err);
            }
        }
        let capacity = self.device.capacity_blocks() * 4096;
        self.usable_bytes
            .store(usable_for_capacity(capacity), Ordering::Release);
        changed
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

    /// Run `f` with exclusive access to the database (no open transaction, no reader), for
    /// `check`.
    pub(crate) fn with_database<T>(&self, f: impl FnOnce(&mut Database) -> T) -> FsResult<T> {
        let mut slot = self.lock();
        self.commit_locked(&mut slot, true)?;
        slot.txn = None;
        let mut engine = self.engine_mut();
        Ok(f(engine.db_mut()?))
    }
}
